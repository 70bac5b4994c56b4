//! An ext4 filesystem on a Strata volume: nbdfuse exposes the export as a file, losetup
//! turns it into a block device, then mkfs, mount, write, unmount, remount and read.
//! (The kernel here has no nbd driver; nbdfuse + a loop device stand in for it.)

mod common;

use common::{Server, TEST_CONFIG, assert_success};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Undoes mounts, loop devices and FUSE in reverse order, even when the test fails.
struct Cleanup {
    fuse_dir: std::path::PathBuf,
    fuse: Option<Child>,
    loop_dev: Option<String>,
    mount_dir: std::path::PathBuf,
    mounted: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.mounted {
            Command::new("umount").arg(&self.mount_dir).status().ok();
        }
        if let Some(dev) = &self.loop_dev {
            Command::new("losetup").args(["-d", dev]).status().ok();
        }
        Command::new("fusermount3")
            .arg("-u")
            .arg(&self.fuse_dir)
            .status()
            .ok();
        if let Some(mut child) = self.fuse.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_success(what, &out);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ext4_on_a_strata_volume_survives_unmount_and_remount() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("fs", "128M");
    let mut guard = Cleanup {
        fuse_dir: dir.path().join("fuse"),
        fuse: None,
        loop_dev: None,
        mount_dir: dir.path().join("mnt"),
        mounted: false,
    };
    std::fs::create_dir_all(&guard.fuse_dir).expect("mkdir");
    std::fs::create_dir_all(&guard.mount_dir).expect("mkdir");
    guard.fuse = Some(
        Command::new("nbdfuse")
            .arg(&guard.fuse_dir)
            .arg(server.uri("fs"))
            .stdout(Stdio::null())
            .spawn()
            .expect("nbdfuse must be installed (.ci/run installs libnbd-bin)"),
    );
    let image = guard.fuse_dir.join("nbd");
    wait_for_file(&image);
    let dev = run(
        "losetup",
        Command::new("losetup").args(["-f", "--show"]).arg(&image),
    );
    guard.loop_dev = Some(dev.clone());
    run(
        "mkfs.ext4",
        Command::new("mkfs.ext4").args(["-q", "-F", &dev]),
    );
    run(
        "mount",
        Command::new("mount").arg(&dev).arg(&guard.mount_dir),
    );
    guard.mounted = true;
    let payload = common::pattern_bytes(3 << 20, 99);
    std::fs::write(guard.mount_dir.join("data.bin"), &payload).expect("write file");
    std::fs::create_dir(guard.mount_dir.join("sub")).expect("mkdir on ext4");
    std::fs::write(guard.mount_dir.join("sub/hello.txt"), "hello strata\n").expect("write");
    run("umount", Command::new("umount").arg(&guard.mount_dir));
    guard.mounted = false;
    // Drop the page cache's view of the loop device so the remount reads from Strata.
    run("losetup -d", Command::new("losetup").args(["-d", &dev]));
    guard.loop_dev = None;
    let dev = run(
        "losetup",
        Command::new("losetup").args(["-f", "--show"]).arg(&image),
    );
    guard.loop_dev = Some(dev.clone());
    run("fsck", Command::new("fsck.ext4").args(["-n", "-f", &dev]));
    run(
        "mount",
        Command::new("mount").arg(&dev).arg(&guard.mount_dir),
    );
    guard.mounted = true;
    let back = std::fs::read(guard.mount_dir.join("data.bin")).expect("read back");
    assert!(back == payload, "file content changed across remount");
    let hello = std::fs::read_to_string(guard.mount_dir.join("sub/hello.txt")).expect("read");
    assert_eq!(hello, "hello strata\n");
}
