#!/usr/bin/env python3
"""How a background copier on a disk delays foreground reads: a virtual-time model.

One disk as DESIGN.md profiles it (single channel, 4 ms seek unless a request starts where
the previous one ended, 180 / 170 MB/s), served in arrival order, non-preemptive. Two
foreground streams of 4 KiB random reads at queue depth 1, 30/s each with exponential
gaps (the hdd jobs of crates/strata/tests/migration_p99.rs). A copier moves 1 MiB extents
(alternately reading and writing the disk) in chunks under a token bucket, and before
each chunk waits while foreground requests are in flight, up to a cap, as the engine's
mover does. Prints foreground p50 / p99 with and without the copier, their p99 ratio and
the copy rate reached, for the mover's pacing rules:

- "chunk": tokens taken chunk by chunk (the mover before 2026-12-06), 5 ms yield cap;
- "extent": the whole extent's tokens first, then its chunks back to back, with yield
  caps of 5 ms and 20 ms (the mover since, on a tier with a seek penalty).

Usage: scripts/migration-interference-model.py [SECONDS] (virtual seconds per run,
default 150). Deterministic for a given seed.
"""

import random
import sys

SEEK_NS = 4_000_000
READ_BPS, WRITE_BPS = 180e6, 170e6
EXTENT = 1 << 20
CHUNK = 128 << 10
POLL_NS = 200_000


class Disk:
    def __init__(self):
        self.free_ns = 0
        self.head = None

    def submit(self, t, offset, length, write):
        start = max(t, self.free_ns)
        seek = 0 if self.head == offset else SEEK_NS
        transfer = int(length / (WRITE_BPS if write else READ_BPS) * 1e9)
        self.free_ns = start + seek + transfer
        self.head = offset + length
        return self.free_ns


def run(rate_mbps, seconds, seed, per_extent=False, yield_cap_ns=5_000_000):
    """Foreground latencies (sorted, ns) and the copy rate reached (MB/s)."""
    rnd = random.Random(seed)
    disk = Disk()
    end_ns = int(seconds * 1e9)
    streams = 2
    arrival = [int(rnd.expovariate(30.0) * 1e9) for _ in range(streams)]
    done = [0] * streams
    latencies = []
    rate = rate_mbps * 1e6
    tokens, refilled_ns = float(EXTENT), 0
    copy_at = 0 if rate_mbps > 0 else end_ns
    left, base, write, copies, copied = 0, 0, False, 0, 0
    yielding_since = None
    while min(min(arrival), copy_at) < end_ns:
        s = min(range(streams), key=lambda i: arrival[i])
        if arrival[s] <= copy_at:
            t = arrival[s]
            offset = (1 << 44) + rnd.randrange(0, 1 << 40, 4096)
            done[s] = disk.submit(t, offset, 4096, False)
            latencies.append(done[s] - t)
            arrival[s] = max(done[s], t + int(rnd.expovariate(30.0) * 1e9))
            continue
        t = copy_at
        if max(done) > t and (yielding_since is None or t - yielding_since < yield_cap_ns):
            yielding_since = yielding_since if yielding_since is not None else t
            copy_at = t + POLL_NS
            continue
        yielding_since = None
        if left == 0:
            copies += 1
            left, base, write = EXTENT, rnd.randrange(0, 1 << 20) * EXTENT, copies % 2 == 0
        tokens = min(EXTENT, tokens + (t - refilled_ns) / 1e9 * rate)
        refilled_ns = t
        need = (EXTENT if left == EXTENT else 0) if per_extent else min(CHUNK, left)
        if tokens < need:
            copy_at = t + max(10_000, int((need - tokens) / rate * 1e9))
            continue
        tokens -= need
        n = min(CHUNK, left)
        copy_at = disk.submit(t, base + EXTENT - left, n, write)
        left -= n
        copied += n
    latencies.sort()
    return latencies, copied / seconds / 1e6


def quantile(sorted_ns, q):
    return sorted_ns[int(q * (len(sorted_ns) - 1))] / 1e6


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 150.0
    rules = [
        ("chunk, yield ≤ 5 ms", dict()),
        ("extent, yield ≤ 5 ms", dict(per_extent=True)),
        ("extent, yield ≤ 20 ms", dict(per_extent=True, yield_cap_ns=20_000_000)),
    ]
    print("| seed | pacing | MB/s configured | MB/s reached | static p50 / p99 ms | migrating p50 / p99 ms | p99 ratio |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for seed in (1, 2):
        static, _ = run(0, seconds, seed)
        for name, rule in rules:
            for mbps in (4, 16, 32):
                moving, reached = run(mbps, seconds, seed, **rule)
                print(
                    f"| {seed} | {name} | {mbps} | {reached:.1f} "
                    f"| {quantile(static, 0.5):.2f} / {quantile(static, 0.99):.2f} "
                    f"| {quantile(moving, 0.5):.2f} / {quantile(moving, 0.99):.2f} "
                    f"| {quantile(moving, 0.99) / quantile(static, 0.99):.2f} |"
                )


if __name__ == "__main__":
    main()
