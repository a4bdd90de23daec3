#!/usr/bin/env bash
# On a GPU machine: build the op library with the CUDA kernels against the machine's PyTorch, run the CUDA
# layer's own test, the CUDA op tests (GoogleTest and pytest), the op-level benchmark, and (SANITIZE=1, the
# default) the bf16 GoogleTest cases under compute-sanitizer (caching allocator off, so that an access past
# a tensor is past its allocation). Logs and torch_op_timings.json go to OUT_DIR
# (at most 8 files: what the device tool brings back).
#   [SANITIZE=0] [PYTHON=python3] benchmarks/run_torch_cuda_device.sh OUT_DIR
# Debian packages the machine may lack come from .devdeps/ (apt-get download libzip-dev libzip4 pkgconf
# pkgconf-bin libpkgconf3 libgtest-dev zlib1g-dev): libzip and pkg-config for strassentile_core, GoogleTest,
# and zlib for configuring tests/cpp (not built here).
set -uo pipefail
out=${1:?usage: run_torch_cuda_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
py=${PYTHON:-python3}
# torch's CMake replaces CMAKE_CUDA_ARCHITECTURES by the architectures in this list.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
  $py -c 'import sys, torch; print(sys.executable, torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
} 2>&1 | tee "$out/env.log"

# Packages from .devdeps, cmake flags for GoogleTest and zlib (extra), torch_prefix.
source benchmarks/device_env.sh

build=build-torch-cuda
start=$(date +%s)
cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRASSENTILE_WITH_TORCH=ON -DSTRASSENTILE_WITH_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_PREFIX_PATH="$torch_prefix" -DPython_EXECUTABLE="$(command -v "$py")" \
  -DSTRASSENTILE_BUILD_APPS=OFF -DSTRASSENTILE_CUDA_BENCHMARKS=OFF "${extra[@]}" >"$out/build.log" 2>&1 &&
  cmake --build $build -j 16 --target strassentile_torch strassentile_torch_cuda_tests strassentile_cuda_tests \
    >>"$out/build.log" 2>&1 || { tail -60 "$out/build.log"; exit 1; }
echo "build ok in $(($(date +%s) - start)) s; warnings: $(grep -c 'warning:' "$out/build.log")"
grep -B6 -m 20 'warning:' "$out/build.log" | cut -c1-240 | head -60

echo "== strassentile_cuda_tests: kernels against the core reference =="
timeout 120 $build/src/cuda/tests/strassentile_cuda_tests >"$out/cuda_tests.log" 2>&1
echo "exit $?"; grep -E "FAIL|passed|worst" "$out/cuda_tests.log" | tail -6

echo "== GoogleTest: CUDA op against the CPU op =="
timeout 240 $build/tests/torch/strassentile_torch_cuda_tests >"$out/gtest.log" 2>&1
echo "exit $?"; grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[ worst|Failure|error|tests? from .* ran" "$out/gtest.log" | head -40

export STRASSENTILE_TORCH_LIB=$PWD/$build/lib/libstrassentile_torch.so
echo "== pytest: tests/python/test_cuda_op.py, test_cuda_mlp.py =="
PYTHONPATH=python:tests/python timeout 240 $py -m pytest -q -p no:cacheprovider tests/python/test_cuda_op.py tests/python/test_cuda_mlp.py \
  >"$out/pytest.log" 2>&1
echo "exit $?"; grep -E "passed|failed|Error|assert" "$out/pytest.log" | tail -15

echo "== benchmark: dense vs stl_matmul, bf16 <4,4,4> r=24 =="
PYTHONPATH=python PYTHONUNBUFFERED=1 timeout 240 $py benchmarks/bench_torch_op.py "$out/torch_op_timings.json" \
  2>&1 | tee "$out/bench.log"

if command -v compute-sanitizer >/dev/null && [ "${SANITIZE:-1}" = 1 ]; then
  echo "== compute-sanitizer memcheck: bf16 forward and gradients, X̂/Z kept too =="
  PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout 150 compute-sanitizer --tool memcheck --print-limit 20 $build/tests/torch/strassentile_torch_cuda_tests \
    --gtest_filter='*BFloat16*:*Mixed*:*Needs*:*Keep*' >"$out/memcheck.log" 2>&1
  echo "memcheck exit $?"; grep -E "ERROR SUMMARY|PASSED|FAILED" "$out/memcheck.log" | tail -4
fi
