#!/usr/bin/env bash
# gpu-test.sh OUT_DIR (`make gpu-test OUT=...`): every GPU test on a GPU machine. Builds the `cuda` preset
# (library, CLI, tests and lab with the CUDA kernels, against the machine's CUDA PyTorch) and runs: ctest (the
# CUDA layer against the core reference, the CUDA op against the CPU op, and every CPU suite), pytest (the library's
# tests, CUDA files included), then compute-sanitizer memcheck on the CUDA layer's test and the bf16 op cases.
# Logs go to OUT_DIR; the exit status is non-zero when any step failed. Needs no network (scripts/gpu-env.sh).
set -uo pipefail
out=$(mkdir -p "${1:?usage: gpu-test.sh OUT_DIR}" && cd "$1" && pwd)
cd "$(dirname "$0")/.."
source scripts/gpu-env.sh
build=${BUILD:-build-cuda}
failed=()
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
  $py -c 'import sys, torch; print(sys.executable, torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
} 2>&1 | tee -a "$out/env.log"

start=$(date +%s)
cmake --preset cuda -B "$build" -DPython_EXECUTABLE="$py" "${extra[@]}" >"$out/build.log" 2>&1 &&
  cmake --build "$build" -j "$(nproc)" >>"$out/build.log" 2>&1 || { tail -60 "$out/build.log"; exit 1; }
echo "build ok in $(($(date +%s) - start)) s; warnings: $(grep -c 'warning:' "$out/build.log")"

echo "== ctest: every C++ suite, the CUDA ones included =="
ctest --test-dir "$build" -j 4 --output-on-failure --timeout 600 >"$out/ctest.log" 2>&1 || failed+=(ctest)
grep -E "tests passed|tests failed|\*\*\*|Skipped|Not Run" "$out/ctest.log" | tail -20

echo "== pytest: tests/python (test_cuda_*.py on the GPU) =="
STRASSENTILE_TORCH_LIB=$PWD/$build/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$PWD/data/fmm PYTHONPATH=python:tests/python \
  timeout 600 "$py" -m pytest -q -p no:cacheprovider tests/python >"$out/pytest.log" 2>&1 || failed+=(pytest)
tail -5 "$out/pytest.log"

if command -v compute-sanitizer >/dev/null; then
  echo "== compute-sanitizer memcheck: the CUDA layer's test, the op's bf16 forward and gradients =="
  cuda_tests=$(find "$build" -name strassentile_cuda_tests -type f -perm -u+x | head -1)
  torch_cuda_tests=$(find "$build" -name strassentile_torch_cuda_tests -type f -perm -u+x | head -1)
  timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 20 "$cuda_tests" \
    >"$out/memcheck_cuda.log" 2>&1 || failed+=(memcheck-cuda)
  grep -E "ERROR SUMMARY|passed" "$out/memcheck_cuda.log" | tail -2
  # Caching allocator off: an access past a tensor is then past its allocation.
  PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 20 \
    "$torch_cuda_tests" --gtest_filter='*BFloat16*:*Mixed*:*Needs*:*Keep*' >"$out/memcheck_torch.log" 2>&1 ||
    failed+=(memcheck-torch)
  grep -E "ERROR SUMMARY|PASSED|FAILED" "$out/memcheck_torch.log" | tail -3
else
  echo "compute-sanitizer not found: memcheck skipped" | tee -a "$out/env.log"
fi

if [ ${#failed[@]} -gt 0 ]; then echo "gpu-test: FAILED: ${failed[*]} (logs in $out)"; exit 1; fi
echo "gpu-test: all passed in $(($(date +%s) - start)) s (logs in $out)"
