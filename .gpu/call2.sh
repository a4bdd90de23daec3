#!/usr/bin/env bash
# Build; the fused dZ pass (and the refactored fused forward) against the references; time it through STLLinear.
set -uo pipefail
out=$(mkdir -p "${1:?OUT}" && cd "$1" && pwd)
t0=$(date +%s); DEADLINE=${DEADLINE:-560}
left() { echo $((DEADLINE - ($(date +%s) - t0))); }
export TORCH_CUDA_ARCH_LIST=9.0
source scripts/gpu-env.sh
build=build-cuda
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$out/env.log"
date -u | tee -a "$out/env.log"
cmake --preset cuda -B "$build" -DPython_EXECUTABLE="$py" "${extra[@]}" >"$out/build.log" 2>&1 &&
  cmake --build "$build" -j 16 --target strassentile_torch strassentile_cuda_tests strassentile_cuda_backward_tests >>"$out/build.log" 2>&1 || { grep -B2 -A12 "error" "$out/build.log" | head -80; exit 1; }
echo "build ok at $(( $(date +%s) - t0 )) s; warnings $(grep -c 'warning' "$out/build.log")"
export STRASSENTILE_TORCH_LIB=$PWD/$build/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$PWD/data/fmm
bt=$(find $build -name strassentile_cuda_backward_tests -type f | head -1)
ft=$(find $build -name strassentile_cuda_tests -type f | head -1)
timeout $(left) $bt --small >"$out/backward_small.log" 2>&1; echo "backward small (fused dZ where it applies) rc=$?"; grep -E "FAIL|fail" "$out/backward_small.log" | head -12; tail -2 "$out/backward_small.log"
timeout $(left) $ft --fused >"$out/fused.log" 2>&1; echo "fused forward rc=$?"; tail -2 "$out/fused.log"
PYTHONPATH=python:tests/python timeout $(left) $py -m pytest -q -x -p no:cacheprovider tests/python/test_cuda_op.py -k "fused or bias or empty" >"$out/test_cuda_op.log" 2>&1; echo "test_cuda_op rc=$?"; tail -15 "$out/test_cuda_op.log" | grep -v "^$" | tail -8
PYTHONPATH=python timeout $(left) $py -m strassentile.benchmark --reps 10 --warmup 3 --tile 2,2,2 --rank 3 --variants stl,stl-fused-backward \
  --shapes 65536x384x1536,16384x768x3072,16384x4096x4096 --blocks 8x2048x768,8x2048x2048 --json "$out/bench.json" --markdown "$out/bench.md" >"$out/bench.log" 2>&1
echo "bench rc=$?"; cat "$out/bench.md"; tail -3 "$out/bench.log"
PYTHONPATH=python:research/scripts timeout $(left) $py research/scripts/layer_profile.py --formats 2x2x2:3 16384x768x3072 65536x384x1536 >"$out/profile.log" 2>&1; echo "profile rc=$?"; grep -E "^==|products_dz|kernels in all" "$out/profile.log"
timeout $(left) $bt --small --unfused-dz >"$out/backward_small_unfused.log" 2>&1; echo "backward small unfused rc=$?"; tail -1 "$out/backward_small_unfused.log"
if [ "$(left)" -gt 90 ]; then timeout $(( $(left) - 30 )) compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 20 $bt --small >"$out/memcheck_backward.log" 2>&1; echo "memcheck rc=$?"; grep -E "ERROR SUMMARY|passed" "$out/memcheck_backward.log" | tail -2; fi
tar czf "$out/logs.tgz" -C "$out" --exclude logs.tgz . 2>/dev/null
echo "total $(( $(date +%s) - t0 )) s"
