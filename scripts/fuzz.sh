#!/usr/bin/env bash
# fuzz.sh [SECONDS]: builds the libFuzzer harnesses with clang (+ASan/UBSan) and fuzzes each loader for
# SECONDS (default 60), starting from fuzz/corpus and the vendored catalogue files (data/fmm).
# Crashes land in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
fmm=${STRASSENTILE_FMM_DIR:-$PWD/data/fmm}
scripts/ensure-deps.sh core fuzz
cmake --preset fuzz -DSTRASSENTILE_FMM_DIR="$fmm" >/dev/null  # clang, libFuzzer, ASan/UBSan (CMakePresets.json)
cmake --build --preset fuzz
for target in npz npy sms; do
  work=build-fuzz/corpus_$target
  mkdir -p "$work"
  cp -n fuzz/corpus/$target/* "$work"/ 2>/dev/null || true
  # Small seeds only: the 750 KB catalogue would slow libFuzzer to ~20 execs/s (ctest's replay covers it).
  extra=()
  [ "$target" = sms ] && [ -d "$fmm/dumas-pernet-sedoglavic" ] && extra+=("$fmm/dumas-pernet-sedoglavic")
  echo "fuzz_$target: ${seconds}s"
  (cd build-fuzz && ./fuzz/fuzz_$target -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 \
     -print_final_stats=1 "corpus_$target" "${extra[@]}" 2>&1 | tail -n 12)
done
