#!/usr/bin/env bash
# On a GPU machine, within one time budget: build the CUDA correctness test, the kernel benchmark and the CLI in
# one build folder, then run the test, bench_stl_kernels (tensor-core vs CUDA-core encode/decode) and
# `strassentile bench` on SHAPES. Every step has its own timeout so that logs are written before the budget ends.
#   [BUDGET=280] [SHAPES=...] [BENCH_ARGS="--reps 20 --warmup 3"] [WRITE_FLUSH=1] [NCU=1] [SKIP_TEST=1]
#   [SANITIZE=1] [PRODUCTS=1] [GELU_VARIANTS=1] benchmarks/run_codec_device.sh OUT_DIR
# Outputs: env.log, build.log, test.log, kernels.log, bench.log, bench.json, bench.md; with WRITE_FLUSH=1 the
# kernel sweep again under the old memset flush (kernels_write_flush.log), with NCU=1 Nsight Compute on the
# tensor-core kernels at the first shape (ncu.log; NCU_KERNELS, a regex, and NCU_COUNT pick the launches), with
# SANITIZE=1 the CUDA test under compute-sanitizer memcheck (sanitizer.log), with PRODUCTS=1 cuBLASLt's
# algorithms for the r products (products.log), with GELU_VARIANTS=1 the kernel sweep rebuilt with the other GELU
# formulas of src/cuda/device_math.cuh (STRASSENTILE_GELU_IMPL=0 and 2; kernels_gelu0.log, kernels_gelu2.log).
set -uo pipefail
out=${1:?usage: run_codec_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
budget=${BUDGET:-280}
left() { echo $((budget - SECONDS)); }
: >"$out/env.log"
# libzip/pkg-config from .devdeps when missing (device_env.sh), then cuBLAS and cuSPARSELt and the build and test
# steps (cuda_libs_env.sh).
source benchmarks/device_env.sh
source benchmarks/cuda_libs_env.sh
device_env_log
build_cuda_layer strassentile_cuda_tests bench_stl_kernels bench_products_algos strassentile
[ "${SKIP_TEST:-0}" != 1 ] && { cuda_test 50 "^FAIL|passed|worst|  (encode|decode|forward) "; grep -c "^  exact" "$out/test.log"; }
[ "${SANITIZE:-0}" = 1 ] && cuda_sanitizer
if [ "${PRODUCTS:-0}" = 1 ]; then
  t=$(($(left) - 20)); [ $t -gt 120 ] && t=120
  timeout $t $build/src/cuda/benchmarks/bench_products_algos >"$out/products.log" 2>&1
  echo "products exit $? at ${SECONDS}s" | tee -a "$out/env.log"
  grep -E "batched default|best lt" "$out/products.log"
fi

t=$(($(left) - 20)); [ $t -gt 40 ] && t=40
timeout $t $build/src/cuda/benchmarks/bench_stl_kernels 2>&1 | tee "$out/kernels.log"
echo "kernels done at ${SECONDS}s" | tee -a "$out/env.log"
if [ "${WRITE_FLUSH:-0}" = 1 ]; then
  t=$(($(left) - 20)); [ $t -gt 40 ] && t=40
  timeout $t $build/src/cuda/benchmarks/bench_stl_kernels --write-flush >"$out/kernels_write_flush.log" 2>&1
  echo "kernels (memset flush) done at ${SECONDS}s" | tee -a "$out/env.log"
fi
if [ "${NCU:-0}" = 1 ]; then
  ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
  t=$(($(left) - 20)); [ $t -gt 120 ] && t=120
  if [ -n "$ncu" ]; then
    timeout $t "$ncu" --clock-control none --kernel-name regex:"${NCU_KERNELS:-mma_loop}" --launch-count ${NCU_COUNT:-2} \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats \
      --section SchedulerStats --section LaunchStats $build/src/cuda/benchmarks/bench_stl_kernels --once \
      >"$out/ncu.log" 2>&1
    echo "ncu exit $? at ${SECONDS}s" | tee -a "$out/env.log"
  else
    echo "ncu not found" | tee -a "$out/env.log"
  fi
fi

if [ "${GELU_VARIANTS:-0}" = 1 ]; then
  main_build=$build
  for impl in 0 2; do
    build=build-codec-gelu$impl
    BUILD_LOG=build_gelu$impl.log BUILD_CUDA_DEFINES=-DSTRASSENTILE_GELU_IMPL=$impl build_cuda_layer bench_stl_kernels
    t=$(($(left) - 20)); [ $t -gt 40 ] && t=40
    timeout $t $build/src/cuda/benchmarks/bench_stl_kernels >"$out/kernels_gelu$impl.log" 2>&1
    echo "== GELU_IMPL=$impl =="; sed -n '/between layers/,$p' "$out/kernels_gelu$impl.log"
  done
  build=$main_build
fi

shapes=${SHAPES:-16384x4096x4096,16384x16384x16384,8192x2048x2048,8192x4096x4096,8192x8192x8192,8192x4096x16384}
# shellcheck disable=SC2086  # BENCH_ARGS is a list of options
timeout $(($(left) - 5)) $build/strassentile bench --shapes "$shapes" --json "$out/bench.json" --markdown "$out/bench.md" \
  ${BENCH_ARGS:---reps 20 --warmup 3} >"$out/bench.log" 2>&1
echo "bench exit $? at ${SECONDS}s" | tee -a "$out/env.log"
tail -c 6000 "$out/bench.log"
