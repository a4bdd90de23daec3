#!/usr/bin/env bash
# On a GPU machine (issue 9, one GPU): build the op library with the CUDA kernels against the machine's PyTorch,
# run the GPU-only tests that skip on a CPU (opcheck of the CUDA kernels against the Meta kernels, inductor
# fullgraph on CUDA against eager, CUDA autocast against explicit casts, checkpoints), then time eager against
# compiled training steps on the GPU. Logs and compile_cuda.json go to OUT_DIR.
#   research/device/run_ecosystem_device.sh OUT_DIR
set -uo pipefail
out=${1:?usage: run_ecosystem_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/../.."
{ nvidia-smi --query-gpu=name,driver_version --format=csv
  python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)'; } 2>&1 | tee "$out/env.log"
source research/device/lab_env.sh
build=build-ecosystem-cuda
build_lab $build strassentile_torch
export STRASSENTILE_TORCH_LIB=$PWD/$build/lib/libstrassentile_torch.so PYTHONUNBUFFERED=1
echo "== pytest: compile, autocast, checkpoint, causal and CUDA-op tests on the GPU =="
PYTHONPATH=python:tests/python timeout 200 $py -m pytest -q -p no:cacheprovider -rs tests/python/test_compile.py \
  tests/python/test_autocast.py tests/python/test_checkpoint.py tests/python/test_causal.py >"$out/pytest.log" 2>&1
echo "exit $?"; grep -E "passed|failed|SKIPPED|Error" "$out/pytest.log" | tail -12
echo "== eager vs compiled training steps on the GPU =="
PYTHONPATH=python timeout 150 $py research/scripts/bench_compile.py --device cuda --out "$out/compile_cuda.json" 2>&1 | tail -20
