#!/usr/bin/env bash
# On a GPU machine, within one time budget: build the CUDA correctness test, the kernel benchmark and the CLI in
# one build folder, then run the test, bench_stl_kernels (tensor-core vs CUDA-core encode/decode) and
# `strassentile bench` on SHAPES. Every step has its own timeout so that logs are written before the budget ends.
#   [BUDGET=280] [SHAPES=...] [BENCH_ARGS="--reps 20 --warmup 3"] [WRITE_FLUSH=1] [NCU=1] [SKIP_TEST=1]
#   [SANITIZE=1] [PRODUCTS=1] benchmarks/run_codec_device.sh OUT_DIR
# Outputs: env.log, build.log, test.log, kernels.log, bench.log, bench.json, bench.md; with WRITE_FLUSH=1 the
# kernel sweep again under the old memset flush (kernels_write_flush.log), with NCU=1 Nsight Compute on the
# tensor-core kernels at the first shape (ncu.log; NCU_KERNELS, a regex, and NCU_COUNT pick the launches), with
# SANITIZE=1 the CUDA test under compute-sanitizer memcheck (sanitizer.log), with PRODUCTS=1 cuBLASLt's
# algorithms for the r products (products.log).
set -uo pipefail
out=${1:?usage: run_codec_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
budget=${BUDGET:-280}
left() { echo $((budget - SECONDS)); }
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
py=${PYTHON:-python3}
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.used --format=csv
  nvcc --version | tail -2
  git log --oneline -1 2>/dev/null
} 2>&1 | tee "$out/env.log"

# libzip/pkg-config from .devdeps when missing (device_env.sh), then cuBLAS and cuSPARSELt (cuda_libs_env.sh).
source benchmarks/device_env.sh
source benchmarks/cuda_libs_env.sh
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

build=build-codec
timeout $(($(left) - 60)) bash -c "cmake -S . -B $build ${gen[*]} -DCMAKE_BUILD_TYPE=Release -DSTRASSENTILE_WITH_CUDA=ON \
  -DSTRASSENTILE_BUILD_TESTS=OFF -DSTRASSENTILE_BUILD_APPS=ON -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 $(printf '%q ' "${extra[@]}") >$out/build.log 2>&1 &&
  cmake --build $build -j $(nproc) --target strassentile_cuda_tests bench_stl_kernels bench_products_algos strassentile >>$out/build.log 2>&1"
rc=$?
echo "build exit $rc at ${SECONDS}s" | tee -a "$out/env.log"
[ $rc = 0 ] || { tail -40 "$out/build.log"; exit 1; }

if [ "${SKIP_TEST:-0}" != 1 ]; then
  t=$(($(left) - 20)); [ $t -gt 50 ] && t=50
  timeout $t $build/src/cuda/tests/strassentile_cuda_tests >"$out/test.log" 2>&1
  echo "test exit $? at ${SECONDS}s" | tee -a "$out/env.log"
  grep -E "^FAIL|passed|worst|  (encode|decode|forward) " "$out/test.log" | tail -30; grep -c "^  exact" "$out/test.log"
fi
if [ "${SANITIZE:-0}" = 1 ]; then
  t=$(($(left) - 20)); [ $t -gt 240 ] && t=240
  timeout $t compute-sanitizer --tool memcheck --print-limit 20 $build/src/cuda/tests/strassentile_cuda_tests \
    >"$out/sanitizer.log" 2>&1
  echo "sanitizer exit $? at ${SECONDS}s" | tee -a "$out/env.log"
  grep -E "ERROR SUMMARY|passed, " "$out/sanitizer.log" | tail -3
fi
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

shapes=${SHAPES:-16384x4096x4096,16384x16384x16384,8192x2048x2048,8192x4096x4096,8192x8192x8192,8192x4096x16384}
# shellcheck disable=SC2086  # BENCH_ARGS is a list of options
timeout $(($(left) - 5)) $build/strassentile bench --shapes "$shapes" --json "$out/bench.json" --markdown "$out/bench.md" \
  ${BENCH_ARGS:---reps 20 --warmup 3} >"$out/bench.log" 2>&1
echo "bench exit $? at ${SECONDS}s" | tee -a "$out/env.log"
tail -c 6000 "$out/bench.log"
