#!/usr/bin/env bash
# Fuzz smoke test (issue 9): builds every cargo-fuzz target in fuzz/ once, then runs each
# for FUZZ_SECONDS (default 15) starting from its seed corpus in fuzz/corpus/<target>.
# Any crash, panic, hang (-timeout) or out-of-memory fails the script; the reproducer is
# left in fuzz/artifacts/<target>/. New inputs found go to a temporary directory, so the
# checked-in corpus only changes when someone decides to add to it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-15}"
# Only the stable toolchain is installed; cargo-fuzz passes -Z flags (sanitizer,
# coverage), which stable rustc accepts under RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

build_flags=(-O --sanitizer "${FUZZ_SANITIZER:-address}")
cargo fuzz build "${build_flags[@]}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for target in $(cargo fuzz list); do
  mkdir -p "$work/$target"
  echo "fuzz: $target for ${seconds}s"
  if ! cargo fuzz run "${build_flags[@]}" "$target" "$work/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=30 -print_final_stats=1 2>"$work/$target.log"; then
    tail -n 60 "$work/$target.log"
    failed+=("$target")
  fi
  grep -E '^stat::number_of_executed_units|^Done' "$work/$target.log" || true
done
if ((${#failed[@]})); then
  echo "fuzz targets failed: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a finding"
