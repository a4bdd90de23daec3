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
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.used --format=csv
  nvcc --version | tail -2
} 2>&1 | tee "$out/env.log"
source benchmarks/device_env.sh
source benchmarks/cuda_libs_env.sh
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
build=build-codec
timeout $(($(left) - 60)) bash -c "cmake -S . -B $build ${gen[*]} -DCMAKE_BUILD_TYPE=Release -DSTRASSENTILE_WITH_CUDA=ON \
  -DSTRASSENTILE_BUILD_TESTS=OFF -DSTRASSENTILE_BUILD_APPS=ON -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 $(printf '%q ' "${extra[@]}") >$out/build.log 2>&1 &&
  cmake --build $build -j $(nproc) --target strassentile_cuda_tests bench_overlap bench_backward_stages bench_gemm_shapes >>$out/build.log 2>&1"
rc=$?
echo "build exit $rc at ${SECONDS}s" | tee -a "$out/env.log"
[ $rc = 0 ] || { tail -40 "$out/build.log"; exit 1; }
if [ "${SKIP_TEST:-0}" != 1 ]; then
  t=$(($(left) - 20)); [ $t -gt 60 ] && t=60
  timeout $t $build/src/cuda/tests/strassentile_cuda_tests >"$out/test.log" 2>&1
  echo "test exit $? at ${SECONDS}s" | tee -a "$out/env.log"
  grep -E "^FAIL|passed|worst|SmPartition" "$out/test.log" | tail -20
fi
if [ "${SANITIZE:-0}" = 1 ]; then
  t=$(($(left) - 20)); [ $t -gt 240 ] && t=240
  timeout $t compute-sanitizer --tool memcheck --print-limit 20 $build/src/cuda/tests/strassentile_cuda_tests \
    >"$out/sanitizer.log" 2>&1
  echo "sanitizer exit $? at ${SECONDS}s" | tee -a "$out/env.log"
  grep -E "ERROR SUMMARY|passed, " "$out/sanitizer.log" | tail -3
fi
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
