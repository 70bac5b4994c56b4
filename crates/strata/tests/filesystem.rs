//! An ext4 filesystem on a Strata volume: nbdfuse exposes the export as a file, losetup
//! turns it into a block device, then mkfs, mount, write, unmount, remount and read; and a
//! guest's `fstrim` reaches Strata as NBD TRIMs that unmap extents.
//! (The kernel here has no nbd driver; nbdfuse + a loop device stand in for it.)

mod common;

use common::{Server, TEST_CONFIG, assert_success, metric_sample};
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

/// Exposes `volume` as a block device (nbdfuse, then a loop device), makes ext4 on it and
/// mounts it under `dir`/mnt.
fn mount_ext4(server: &Server, volume: &str, dir: &Path) -> Cleanup {
    let mut guard = Cleanup {
        fuse_dir: dir.join("fuse"),
        fuse: None,
        loop_dev: None,
        mount_dir: dir.join("mnt"),
        mounted: false,
    };
    std::fs::create_dir_all(&guard.fuse_dir).expect("mkdir");
    std::fs::create_dir_all(&guard.mount_dir).expect("mkdir");
    guard.fuse = Some(
        Command::new("nbdfuse")
            .arg(&guard.fuse_dir)
            .arg(server.uri(volume))
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
    guard
}

#[test]
fn ext4_on_a_strata_volume_survives_unmount_and_remount() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("fs", "128M");
    let mut guard = mount_ext4(&server, "fs", dir.path());
    let image = guard.fuse_dir.join("nbd");
    let payload = common::pattern_bytes(3 << 20, 99);
    std::fs::write(guard.mount_dir.join("data.bin"), &payload).expect("write file");
    std::fs::create_dir(guard.mount_dir.join("sub")).expect("mkdir on ext4");
    std::fs::write(guard.mount_dir.join("sub/hello.txt"), "hello strata\n").expect("write");
    run("umount", Command::new("umount").arg(&guard.mount_dir));
    guard.mounted = false;
    // Drop the page cache's view of the loop device so the remount reads from Strata.
    let dev = guard.loop_dev.clone().expect("attached");
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

/// A guest deletes a 48 MiB file and runs `fstrim`: ext4 discards the freed blocks, the loop
/// device punches holes in nbdfuse's file, nbdfuse sends NBD TRIMs, and Strata unmaps the
/// whole extents among them and tells the `strata` policy, which drops them from its books.
#[test]
fn fstrim_in_the_guest_unmaps_extents_and_the_policy_forgets_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "{TEST_CONFIG}[placement]\npolicy = \"strata\"\naccess_poll_ms = 20\nplan_interval_ms = 100\n"
    );
    let server = Server::start(dir.path(), &config);
    server.create_volume("fs", "128M");
    let guard = mount_ext4(&server, "fs", dir.path());
    let metric = |series: &str| metric_sample(&server.metrics(), series).unwrap_or(0.0);
    let allocated = || {
        let volume = server.get_json("/v1/volumes/fs");
        volume["allocated_bytes"].as_f64().expect("allocated_bytes")
    };
    let file = guard.mount_dir.join("big.bin");
    std::fs::write(&file, common::pattern_bytes(48 << 20, 7)).expect("write file");
    run("sync", Command::new("sync").arg("-f").arg(&file));
    let full = allocated();
    assert!(full >= f64::from(48 << 20), "{full} bytes allocated");
    std::fs::remove_file(&file).expect("rm");
    run("sync", Command::new("sync").arg("-f").arg(&guard.mount_dir));
    run("fstrim", Command::new("fstrim").arg(&guard.mount_dir));
    let trimmed = allocated();
    assert!(
        trimmed <= full - f64::from(32 << 20),
        "{full} bytes allocated before fstrim, {trimmed} after"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let unmapped = loop {
        let told = metric("strata_migration_unmapped_extents_total");
        if told >= 32.0 {
            break told;
        }
        assert!(Instant::now() < deadline, "told of {told} unmapped extents");
        std::thread::sleep(Duration::from_millis(20));
    };
    // At most the extents the volume held before fstrim and does not hold after.
    assert!(
        unmapped <= ((full - trimmed) / f64::from(1 << 20)).ceil(),
        "{unmapped} extents told, {full} -> {trimmed} bytes"
    );
}
