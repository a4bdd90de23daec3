#!/usr/bin/env bash
# On a GPU machine: build the CUDA test and bench_overlap, run the test, then bench_overlap (stl_forward against
# stl_forward_pipelined on plain streams and on SmPartitions, and stl_forward_chunked), and with STAGES=1 first
# bench_backward_stages (the forward+backward stage by stage, X̂ recomputed or kept).
#   [BUDGET=300] [SKIP_TEST=1] [SANITIZE=1] [OVERLAP_ARGS="--reps 15 ..."] [STAGES=1] [STAGES_ARGS="..."]
#   [SKIP_OVERLAP=1] benchmarks/run_overlap_device.sh OUT_DIR
# Outputs: env.log, build.log, test.log, (sanitizer.log), (stages.log, stages.json), overlap.log, overlap.json.
set -uo pipefail
out=${1:?usage: run_overlap_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
budget=${BUDGET:-300}
left() { echo $((budget - SECONDS)); }
: >"$out/env.log"
source benchmarks/device_env.sh
source benchmarks/cuda_libs_env.sh
device_env_log
build_cuda_layer strassentile_cuda_tests bench_overlap bench_backward_stages bench_gemm_shapes
[ "${SKIP_TEST:-0}" != 1 ] && cuda_test 60 "^FAIL|passed|worst|SmPartition"
[ "${SANITIZE:-0}" = 1 ] && cuda_sanitizer
if [ "${STAGES:-0}" = 1 ]; then
  timeout $(($(left) - 10)) $build/src/cuda/benchmarks/bench_backward_stages "$out/stages.json" ${STAGES_ARGS:-} \
    >"$out/stages.log" 2>&1
  echo "bench_backward_stages exit $? at ${SECONDS}s" | tee -a "$out/env.log"
  cat "$out/stages.log"
fi
[ "${SKIP_OVERLAP:-0}" = 1 ] && exit 0
t=$(($(left) - 10))
timeout $t $build/src/cuda/benchmarks/bench_overlap "$out/overlap.json" ${OVERLAP_ARGS:-} >"$out/overlap.log" 2>&1
echo "bench_overlap exit $? at ${SECONDS}s" | tee -a "$out/env.log"
cat "$out/overlap.log"
