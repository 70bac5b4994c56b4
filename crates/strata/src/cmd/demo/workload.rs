//! The four workload profiles of `strata demo` and the request stream each one produces.
//!
//! A profile is described once — block size, read share, access zones, pacing — and is
//! turned either into a fio job section (`fio_job`) or into requests by the built-in
//! generator (`Generator`), with the same meaning in both: a zoned distribution is fio's
//! `random_distribution=zoned`, zones in offset order, each taking a share of the accesses.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;

/// One zone of a zoned distribution: `access_pct` of the accesses fall uniformly into
/// the next `size_pct` of the volume.
#[derive(Debug, Clone, Copy)]
pub struct Zone {
    pub access_pct: u32,
    pub size_pct: u32,
}

/// How a profile walks its volume.
#[derive(Debug, Clone, Copy)]
pub enum Pattern {
    /// Random requests over zones.
    Zoned(&'static [Zone]),
    /// One sequential pass after another over the whole volume.
    Sequential,
}

/// A volume of the demo and the work done on it.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// Volume name and workload class (`--profile`).
    pub name: &'static str,
    pub class: &'static str,
    pub size_bytes: u64,
    pub block_bytes: u64,
    /// Percentage of requests that are reads.
    pub read_pct: u32,
    pub pattern: Pattern,
    /// Requests per second the client aims at; a slow tier keeps it from getting there.
    pub target_iops: u32,
    /// What the workload stands for, for the report.
    pub story: &'static str,
}

const MIB: u64 = 1 << 20;

/// The four profiles. The hot zones sit away from the start of each volume: the volumes
/// are written first (round-robin, as VMs are provisioned side by side), so what placement
/// at write time puts on the fast tier is each volume's beginning, and what later turns
/// out to be hot is elsewhere — the situation background placement is for.
pub const PROFILES: [Profile; 4] = [
    Profile {
        name: "database",
        class: "database",
        size_bytes: 64 * MIB,
        block_bytes: 8192,
        read_pct: 70,
        pattern: Pattern::Zoned(&[
            Zone {
                access_pct: 8,
                size_pct: 80,
            },
            Zone {
                access_pct: 90,
                size_pct: 10,
            },
            Zone {
                access_pct: 2,
                size_pct: 10,
            },
        ]),
        target_iops: 400,
        story: "8 KiB random, 70 % reads, 90 % of them on a 10 % hot set",
    },
    Profile {
        name: "web",
        class: "web",
        size_bytes: 64 * MIB,
        block_bytes: 16384,
        read_pct: 95,
        pattern: Pattern::Zoned(&[
            Zone {
                access_pct: 15,
                size_pct: 20,
            },
            Zone {
                access_pct: 80,
                size_pct: 15,
            },
            Zone {
                access_pct: 5,
                size_pct: 65,
            },
        ]),
        target_iops: 300,
        story: "16 KiB random, 95 % reads, 80 % of them on a 15 % hot set",
    },
    Profile {
        name: "file",
        class: "file",
        size_bytes: 64 * MIB,
        block_bytes: 65536,
        read_pct: 80,
        pattern: Pattern::Zoned(&[
            Zone {
                access_pct: 40,
                size_pct: 70,
            },
            Zone {
                access_pct: 60,
                size_pct: 30,
            },
        ]),
        target_iops: 60,
        story: "64 KiB random, 80 % reads, 60 % of them on the newest 30 %",
    },
    Profile {
        name: "backup",
        class: "backup",
        size_bytes: 128 * MIB,
        block_bytes: MIB,
        read_pct: 100,
        pattern: Pattern::Sequential,
        target_iops: 16,
        story: "1 MiB sequential reads at 16 MB/s, pass after pass",
    },
];

impl Profile {
    /// The fio job section driving this profile over `uri` for `runtime_s` seconds, with
    /// every request's latency logged to `<log_prefix>_lat.<n>.log`.
    pub fn fio_job(&self, uri: &str, runtime_s: u64, log_prefix: &str) -> String {
        let mut job = format!(
            "[{name}]\nioengine=nbd\nuri={uri}\nsize={size}\nbs={bs}\niodepth=1\n\
             time_based=1\nruntime={runtime_s}\nwrite_lat_log={log_prefix}\n",
            name = self.name,
            size = self.size_bytes,
            bs = self.block_bytes,
        );
        let reads = self.target_iops * self.read_pct / 100;
        let writes = self.target_iops - reads;
        match self.pattern {
            Pattern::Sequential => {
                let _ = writeln!(job, "rw=read\nrate_iops={reads}");
            }
            Pattern::Zoned(zones) => {
                let spec: Vec<String> = zones
                    .iter()
                    .map(|z| format!("{}/{}", z.access_pct, z.size_pct))
                    .collect();
                let _ = writeln!(
                    job,
                    "rw=randrw\nrwmixread={}\nnorandommap=1\nrandom_distribution=zoned:{}\n\
                     rate_iops={},{}",
                    self.read_pct,
                    spec.join(":"),
                    reads.max(1),
                    writes.max(1),
                );
            }
        }
        job
    }
}

/// One request of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub offset: u64,
    pub len_bytes: u64,
    pub read: bool,
}

/// A deterministic request stream for one profile (the same seed gives the same requests
/// on both servers).
#[derive(Debug, Clone)]
pub struct Generator {
    profile: Profile,
    rng: ChaCha8Rng,
    next_sequential: u64,
}

impl Generator {
    pub fn new(profile: Profile, seed: u64) -> Self {
        Self {
            profile,
            rng: ChaCha8Rng::seed_from_u64(seed),
            next_sequential: 0,
        }
    }

    pub fn next_request(&mut self) -> Request {
        let p = self.profile;
        let blocks = (p.size_bytes / p.block_bytes).max(1);
        let read = self.rng.random_range(0..100) < p.read_pct;
        let block = match p.pattern {
            Pattern::Sequential => {
                let block = self.next_sequential % blocks;
                self.next_sequential = block + 1;
                block
            }
            Pattern::Zoned(zones) => {
                let (start_pct, size_pct) = pick_zone(zones, self.rng.random_range(0..100));
                let first = blocks * start_pct / 100;
                let len = (blocks * size_pct / 100).max(1);
                (first + self.rng.random_range(0..len)).min(blocks - 1)
            }
        };
        Request {
            offset: block * p.block_bytes,
            len_bytes: p.block_bytes,
            read,
        }
    }
}

/// The zone a percentile `roll` (0..100) falls into, as (start %, size %) of the volume.
fn pick_zone(zones: &[Zone], roll: u64) -> (u64, u64) {
    let mut start = 0;
    let mut acc = 0;
    for zone in zones {
        acc += u64::from(zone.access_pct);
        if roll < acc {
            return (start, u64::from(zone.size_pct));
        }
        start += u64::from(zone.size_pct);
    }
    (0, 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_cover_every_volume_and_all_accesses() {
        for p in PROFILES {
            if let Pattern::Zoned(zones) = p.pattern {
                assert_eq!(zones.iter().map(|z| z.access_pct).sum::<u32>(), 100);
                assert_eq!(zones.iter().map(|z| z.size_pct).sum::<u32>(), 100);
            }
            assert_eq!(p.size_bytes % p.block_bytes, 0, "{}", p.name);
        }
    }

    #[test]
    fn zoned_requests_follow_the_zone_shares() {
        let db = PROFILES[0];
        let mut generator = Generator::new(db, 7);
        let n = 20_000;
        let (mut hot, mut reads) = (0, 0);
        for _ in 0..n {
            let r = generator.next_request();
            assert!(r.offset + r.len_bytes <= db.size_bytes);
            assert_eq!(r.offset % db.block_bytes, 0);
            let pct = r.offset * 100 / db.size_bytes;
            hot += u32::from((80..90).contains(&pct));
            reads += u32::from(r.read);
        }
        // 90 % of the requests land in the hot 10 %, 70 % are reads (± 2 points).
        assert!((17_600..=18_400).contains(&hot), "hot {hot}");
        assert!((13_600..=14_400).contains(&reads), "reads {reads}");
    }

    #[test]
    fn sequential_requests_wrap_and_same_seed_same_stream() {
        let backup = PROFILES[3];
        let mut generator = Generator::new(backup, 1);
        let blocks = backup.size_bytes / backup.block_bytes;
        let offsets: Vec<u64> = (0..blocks + 2)
            .map(|_| generator.next_request().offset)
            .collect();
        assert_eq!(offsets[1], backup.block_bytes);
        assert_eq!(offsets[blocks as usize], 0);
        let a: Vec<_> = {
            let mut g = Generator::new(PROFILES[1], 42);
            (0..100).map(|_| g.next_request()).collect()
        };
        let mut g = Generator::new(PROFILES[1], 42);
        assert!(a.iter().all(|r| *r == g.next_request()));
    }

    #[test]
    fn fio_job_says_what_the_generator_does() {
        let job = PROFILES[0].fio_job("nbd://127.0.0.1:1/database", 10, "logs/database");
        for needle in [
            "[database]",
            "ioengine=nbd",
            "uri=nbd://127.0.0.1:1/database",
            "bs=8192",
            "rwmixread=70",
            "random_distribution=zoned:8/80:90/10:2/10",
            "rate_iops=280,120",
            "runtime=10",
            "write_lat_log=logs/database",
        ] {
            assert!(job.contains(needle), "{needle} missing from\n{job}");
        }
        let backup = PROFILES[3].fio_job("nbd://h/backup", 5, "b");
        assert!(backup.contains("rw=read\nrate_iops=16"), "{backup}");
    }
}
