#!/usr/bin/env bash
# The migration queue of a server whose hdd foreground reads never leave idle: one
# `strata serve` (emulated nvme 256 MiB, ssd 512 MiB, hdd 4 GiB, placement policy $POLICY,
# default `strata`), a 2 GiB volume written through fio's nbd engine (the last 1.25 GiB of
# it lands on the hdd), then zipf(1.1) 4 KiB random reads at queue depth 4 for SECONDS
# (default 120). Prints, every 10 s, the moves done and queued and how long the oldest has
# waited, then fio's read IOPS and latency and the migration counters. A mover that falls
# behind what the policy plans shows as a queue that keeps growing (BENCHMARKS.md, "A disk
# that foreground reads never leave idle"); run with each policy in turn, it compares them
# on a real server ("The policies on a real server with a busy hdd").
# MAX_MOVE_AGE_MS, when set, is the placement's max_move_age_ms (0 = no bound).
# Usage: [POLICY=P] [MAX_MOVE_AGE_MS=N] scripts/busy-hdd-queue.sh [STRATA_BIN] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
strata="$(realpath "${1:-target/release/strata}")"
seconds="${2:-120}"
policy="${POLICY:-strata}"
work="$(mktemp -d)"
pid=
cleanup() {
  if [[ -n "$pid" ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

nbd_port=$((20000 + RANDOM % 20000))
api="http://127.0.0.1:$((nbd_port + 1))"
cat >"$work/strata.toml" <<EOF
data_dir = "$work/data"
emulation = true
nbd_listen = "127.0.0.1:$nbd_port"
api_listen = "127.0.0.1:$((nbd_port + 1))"

[placement]
policy = "$policy"
${MAX_MOVE_AGE_MS:+max_move_age_ms = $MAX_MOVE_AGE_MS}

[[tier]]
kind = "nvme"
capacity = "256M"

[[tier]]
kind = "ssd"
capacity = "512M"

[[tier]]
kind = "hdd"
capacity = "4G"
EOF
"$strata" serve --config "$work/strata.toml" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  "$strata" --api "$api" status >/dev/null 2>&1 && break
  sleep 0.2
done
"$strata" --api "$api" volume create vm1 --size 2G >/dev/null
uri="nbd://127.0.0.1:$nbd_port/vm1"
fio --name=fill --ioengine=nbd --uri="$uri" --rw=write --bs=1M --size=2G --iodepth=4 \
  >/dev/null 2>&1
metric() {
  curl -s "$api/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f", s}'
}
fio --name=zipf --ioengine=nbd --uri="$uri" --rw=randread --bs=4k --size=2G --iodepth=4 \
  --random_distribution=zipf:1.1 --time_based --runtime="$seconds" --output-format=json \
  --output="$work/zipf.json" >/dev/null 2>&1 &
fio_pid=$!
echo "policy $policy"
echo "s done queued oldest_s"
for ((t = 10; t <= seconds; t += 10)); do
  sleep 10
  echo "$t $(metric 'strata_migration_moves_total{outcome="done"}') $(metric strata_migration_queue_length)" \
    "$(metric strata_migration_queue_oldest_seconds)"
done
wait "$fio_pid"
python3 - "$work/zipf.json" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
read = json.loads(text[text.find("{"):])["jobs"][0]["read"]
clat = read["clat_ns"]
print("fio reads %d, %.0f IOPS, mean %.1f ms, p99 %.1f ms" % (read["total_ios"], read["iops"],
      clat["mean"] / 1e6, clat["percentile"]["99.000000"] / 1e6))
EOF
echo "planned $(metric strata_migration_planned_total) rejected $(metric strata_migration_rejected_total)" \
  "expired $(metric 'strata_migration_rejected_total{reason="expired"}')" \
  "done $(metric 'strata_migration_moves_total{outcome="done"}') bytes $(metric strata_migration_bytes_total)"
