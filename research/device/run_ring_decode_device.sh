#!/usr/bin/env bash
# On a GPU machine (sm_90a): build ring_decode_bench, run RingDecode's parts alone and together on one shape
# (RING_DECODE_STAGES: 1 ring stores, 2 counting/waits/freeing, 4 decode body; 7 all) to find which fails, then,
# when all of them pass, the whole benchmark (every shape, timed). Logs and ring_decode_bench.md go to OUT_DIR.
#   research/device/run_ring_decode_device.sh OUT_DIR
set -uo pipefail
out=${1:?usage: run_ring_decode_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/../.."
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
build=${BUILD_DIR:-/tmp/ring-decode}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
BUILD_ONLY=1 BUILD_DIR="$build" bash research/benchmarks/fused/products_bench.sh ring_decode_bench \
  >"$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
failed=()
for stages in 0 1 2 3 4 6 7; do
  RING_DECODE_STAGES=$stages RING_DECODE_CHECK_ONLY=1 RING_DECODE_SHAPE=2 timeout 30 "$build/ring_decode_bench" \
    >"$out/stages_$stages.log" 2>&1 || failed+=("$stages")
  echo "stages $stages: $(grep -v '^|---\|^| M×K×N' "$out/stages_$stages.log" | tail -1)"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "ring-decode: failing stage sets: ${failed[*]}"
  command -v compute-sanitizer >/dev/null &&
    RING_DECODE_STAGES=${failed[0]} RING_DECODE_CHECK_ONLY=1 RING_DECODE_SHAPE=2 timeout 120 compute-sanitizer \
      --tool memcheck --print-limit 10 "$build/ring_decode_bench" >"$out/memcheck.log" 2>&1
  exit 1
fi
timeout 300 "$build/ring_decode_bench" >"$out/ring_decode_bench.md" 2>&1; rc=$?
cat "$out/ring_decode_bench.md"
exit $rc
