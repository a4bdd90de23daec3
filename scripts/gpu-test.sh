#!/usr/bin/env bash
# gpu-test.sh OUT_DIR (`make gpu-test OUT=...`): every GPU test on a GPU machine. Builds the `cuda` preset
# (library, CLI, tests and lab with the CUDA kernels, against the machine's CUDA PyTorch) and runs:
#  - ctest: every C++ suite, the lab's included; the CUDA ones are the CUDA layer's forward and backward against the
#    core reference and its argument checks (tests/cuda), and the CUDA op against the CPU op (tests/torch);
#  - pytest: the library's tests (tests/python; its test_cuda_*.py files need the GPU: the op and the MLP against
#    the CPU op, the kernels-ran guard, the 2^31-element case) and the lab's (research/tests/python);
#  - compute-sanitizer memcheck on the CUDA layer's tests and the op's bf16 cases.
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
  g++ --version | head -1
  # libtorch_cpu.so re-exporting libstdc++'s std::filesystem (pytorch/pytorch#133437) makes programs built with
  # another g++ bind their std::filesystem calls to that copy; the lab's tests that make temporary folders crash so.
  echo "std::filesystem symbols exported by libtorch_cpu.so: $(nm -D --defined-only \
    "$($py -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))')" |
    c++filt | grep -c 'std::filesystem')"
} 2>&1 | tee -a "$out/env.log"

start=$(date +%s)
cmake --preset cuda -B "$build" -DPython_EXECUTABLE="$py" "${extra[@]}" >"$out/build.log" 2>&1 &&
  cmake --build "$build" -j "$(nproc)" >>"$out/build.log" 2>&1 || { tail -60 "$out/build.log"; exit 1; }
echo "build ok in $(($(date +%s) - start)) s; warnings: $(grep -c 'warning:' "$out/build.log")"

echo "== ctest: every C++ suite, the CUDA ones included =="
ctest --test-dir "$build" -j 4 --output-on-failure --timeout 600 >"$out/ctest.log" 2>&1 || failed+=(ctest)
grep -E "tests passed|tests failed|\*\*\*|Skipped|Not Run" "$out/ctest.log" | tail -20

echo "== pytest: tests/python (test_cuda_*.py on the GPU) and the lab's research/tests/python =="
export STRASSENTILE_TORCH_LIB=$PWD/$build/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$PWD/data/fmm
PYTHONPATH=python:tests/python timeout 900 "$py" -m pytest -q -rs -p no:cacheprovider tests/python \
  >"$out/pytest.log" 2>&1 || failed+=(pytest)
tail -5 "$out/pytest.log"
# A CUDA file that skipped here did not test the GPU: the skip reasons are listed for the log's reader.
grep -E "^SKIPPED.*test_cuda_" "$out/pytest.log" | head -5
PYTHONPATH=python:research/python:tests/python timeout 600 "$py" -m pytest -q -p no:cacheprovider research/tests/python \
  >"$out/pytest_lab.log" 2>&1 || failed+=(pytest-lab)
tail -2 "$out/pytest_lab.log"

if command -v compute-sanitizer >/dev/null; then
  echo "== compute-sanitizer memcheck: the CUDA layer's tests, the op's bf16 forward and gradients =="
  for t in strassentile_cuda_tests strassentile_cuda_backward_tests strassentile_cuda_causal_tests; do
    exe=$(find "$build" -name "$t" -type f -perm -u+x | head -1)
    # The backward suite's large cases take longer than the limit under memcheck: its cases up to 1000 rows.
    args=(); [ "$t" = strassentile_cuda_backward_tests ] && args=(--small)
    timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 20 "$exe" "${args[@]}" \
      >"$out/memcheck_$t.log" 2>&1 || failed+=("memcheck-$t")
    grep -E "ERROR SUMMARY|passed" "$out/memcheck_$t.log" | tail -2
  done
  torch_cuda_tests=$(find "$build" -name strassentile_torch_cuda_tests -type f -perm -u+x | head -1)
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
