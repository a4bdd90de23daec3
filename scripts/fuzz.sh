#!/usr/bin/env bash
# fuzz.sh [SECONDS]: builds the libFuzzer harnesses with clang (+ASan/UBSan) and fuzzes each for SECONDS
# (default 60): the three loaders and the CLI's verify path, starting from fuzz/corpus and the vendored catalogue
# files (data/fmm). The harnesses run FUZZ_JOBS at a time (default: the number of cores), so a new harness costs
# no wall time while there are cores to spare. Each input has a budget: at most 5 s, 2 GB of resident memory and
# 512 MB in one allocation; a breach is a finding like a crash.
# Environment: STRASSENTILE_FUZZ_BUILD (build folder, default build-fuzz), STRASSENTILE_FMM_DIR, FUZZ_JOBS.
# Findings (crash-*, timeout-*, oom-*) and each harness's log land in the build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
fmm=${STRASSENTILE_FMM_DIR:-$PWD/data/fmm}
build=${STRASSENTILE_FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
targets=(npz npy sms verify)
scripts/ensure-deps.sh core fuzz
cmake --preset fuzz -B "$build" -DSTRASSENTILE_FMM_DIR="$fmm" >/dev/null  # clang, libFuzzer, ASan/UBSan
cmake --build "$build" --target "${targets[@]/#/fuzz_}"

fuzz_one() {
  local target=$1 work=corpus_$1
  mkdir -p "$build/$work"
  cp -n fuzz/corpus/"$target"/* "$build/$work"/ 2>/dev/null || true
  # Small seeds only: the 750 KB catalogue would slow libFuzzer to ~20 execs/s (ctest's replay covers it).
  local extra=()
  [ "$target" = sms ] && [ -d "$fmm/dumas-pernet-sedoglavic" ] && extra+=("$fmm/dumas-pernet-sedoglavic")
  (cd "$build" && ./fuzz/fuzz_"$target" -max_total_time="$seconds" -max_len=65536 -timeout=5 -rss_limit_mb=2048 \
    -malloc_limit_mb=512 -print_final_stats=1 "$work" "${extra[@]}" >"fuzz_$target.log" 2>&1)
}

echo "fuzzing ${targets[*]}: ${seconds}s each, $jobs at a time"
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  (status=0; fuzz_one "$target" || status=$?; echo "$status" >"$build/fuzz_$target.status") &
done
wait
failed=()
for target in "${targets[@]}"; do
  status=$(cat "$build/fuzz_$target.status")
  echo "== fuzz_$target (exit $status) =="
  tail -n 12 "$build/fuzz_$target.log"
  [ "$status" = 0 ] || failed+=("fuzz_$target")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: findings in ${failed[*]}: see $build/fuzz_*.log and the crash-*/timeout-*/oom-* files there" >&2
  exit 1
fi
