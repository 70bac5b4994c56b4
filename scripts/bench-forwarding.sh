#!/usr/bin/env bash
# Cost of forwarding partitioned volumes (issue 7 item 6): three `strata serve` on one
# etcd, emulation off, and fio's nbd engine through server A against
#   plain   — an ordinary volume on A (no forwarding),
#   part3   — the same size in 3 partitions, one on each server (2/3 of requests forwarded),
# with the same job, one after the other in one run. Prints one line per (volume, job):
# IOPS, MB/s and mean completion latency. Usage: scripts/bench-forwarding.sh [STRATA_BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
strata="${1:-target/release/strata}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
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

run() { # volume rw bs depth
  fio --name=bench --ioengine=nbd --uri="nbd://${nbd[a]}/$1" --rw="$2" --bs="$3" \
    --iodepth="$4" --size=768m --time_based --runtime=15 --ramp_time=2 \
    --output-format=json 2>/dev/null |
    python3 -c '
import json, sys
text = sys.stdin.read(); job = json.loads(text[text.index("{"):])["jobs"][0]
side = job["write"] if job["write"]["io_bytes"] else job["read"]
print(f"{sys.argv[1]:6} {sys.argv[2]:9} bs={sys.argv[3]:4} qd={sys.argv[4]:2} "
      f"iops={side[\"iops\"]:9.0f} MB/s={side[\"bw_bytes\"]/1e6:7.1f} "
      f"mean_us={side[\"clat_ns\"][\"mean\"]/1e3:8.1f}")' "$1" "$2" "$3" "$4"
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
