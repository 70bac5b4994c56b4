#!/usr/bin/env bash
# Cost of forwarding partitioned volumes (issue 7 item 6): three `strata serve` on one
# etcd, emulation off, and fio's nbd engine through server A against
#   plain   — an ordinary volume on A (no forwarding),
#   part3   — the same size in 3 partitions, one on each server (2/3 of requests forwarded),
# with the same job, one after the other in one run. Prints one line per (volume, job):
# IOPS, MB/s and mean completion latency, then per job the part3/plain ratios of IOPS and
# mean latency. Usage: scripts/bench-forwarding.sh [STRATA_BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
strata="${1:-target/release/strata}"
work="$(mktemp -d)"
pids=()
cleanup() {
  # Servers first (they deregister from etcd on SIGTERM), etcd last.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

etcd_port="$(free_port)"; peer_port="$(free_port)"
etcd --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "default=http://127.0.0.1:$peer_port" --log-level error >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$etcd_port/health" >/dev/null && break
  sleep 0.1
done

cat >"$work/strata.toml" <<'EOF'
emulation = false
[[tier]]
kind = "nvme"
capacity = "1G"
[[tier]]
kind = "ssd"
capacity = "1G"
[[tier]]
kind = "hdd"
capacity = "2G"
EOF

declare -A nbd api
for id in a b c; do
  nbd[$id]="127.0.0.1:$(free_port)"; api[$id]="127.0.0.1:$(free_port)"
  STRATA_LOG=warn "$strata" serve --config "$work/strata.toml" --data-dir "$work/$id" \
    --etcd "http://127.0.0.1:$etcd_port" --server-id "$id" \
    --nbd-listen "${nbd[$id]}" --api-listen "${api[$id]}" >"$work/$id.out" &
  pids+=($!)
done
for id in a b c; do
  for _ in $(seq 600); do grep -q ready "$work/$id.out" && break; sleep 0.1; done
done

A="http://${api[a]}"
"$strata" --api "$A" volume create plain --size 768M >/dev/null
"$strata" --api "$A" volume create part3 --size 768M --partitions 3 >/dev/null

# One fio JSON report on stdin → one row; the numbers also go to $work/rows for the ratios
# at the end. (Files, not `python3 -c '…'`: f-strings need quotes a single-quoted bash
# string cannot hold.)
cat >"$work/row.py" <<'PY'
import json, sys
volume, rw, bs, qd, rows = sys.argv[1:6]
text = sys.stdin.read()
job = json.loads(text[text.index("{"):])["jobs"][0]
if job["error"]:
    sys.exit(f"fio {volume} {rw}: error {job['error']}")
side = job["write"] if job["write"]["io_bytes"] else job["read"]
iops, mbs, mean_us = side["iops"], side["bw_bytes"] / 1e6, side["clat_ns"]["mean"] / 1e3
print(f"{volume:6} {rw:9} bs={bs:4} qd={qd:2} iops={iops:9.0f} MB/s={mbs:7.1f} "
      f"mean_us={mean_us:8.1f}")
with open(rows, "a") as out:
    out.write(f"{volume} {rw} {bs} {qd} {iops} {mbs} {mean_us}\n")
PY
cat >"$work/ratios.py" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    volume, rw, bs, qd, iops, mbs, mean_us = line.split()
    rows[(volume, rw, bs, qd)] = (float(iops), float(mean_us))
for (volume, rw, bs, qd), (iops, mean_us) in rows.items():
    if volume != "part3" or ("plain", rw, bs, qd) not in rows:
        continue
    plain_iops, plain_us = rows[("plain", rw, bs, qd)]
    print(f"ratio  {rw:9} bs={bs:4} qd={qd:2} part3/plain iops={iops / plain_iops:5.2f} "
          f"mean_us={mean_us / plain_us:5.2f}")
PY

run() { # volume rw bs depth
  fio --name=bench --ioengine=nbd --uri="nbd://${nbd[a]}/$1" --rw="$2" --bs="$3" \
    --iodepth="$4" --size=768m --time_based --runtime=15 --ramp_time=2 \
    --output-format=json 2>/dev/null | python3 "$work/row.py" "$1" "$2" "$3" "$4" "$work/rows"
}

# Fill both so reads hit written extents.
for v in plain part3; do
  fio --name=fill --ioengine=nbd --uri="nbd://${nbd[a]}/$v" --rw=write --bs=1m \
    --iodepth=4 --size=768m >/dev/null 2>&1
done
for job in "randread 4k 16" "randwrite 4k 16" "read 1m 4" "write 1m 4"; do
  for v in plain part3; do
    # shellcheck disable=SC2086
    run "$v" $job
  done
done
python3 "$work/ratios.py" "$work/rows"
