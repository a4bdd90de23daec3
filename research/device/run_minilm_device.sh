#!/usr/bin/env bash
# On a GPU machine: build the op library with the CUDA kernels against the machine's PyTorch and run
# `strassentile-experiment convert-minilm` on a compact extract of all-MiniLM-L6-v2 and its tokenised text.
# The full model package (83 MB) cannot travel to the GPU machine in a 64 MiB transfer; the extract (encoder +
# the word-embedding rows of the tokens used, ~57 MiB) computes exactly the same on those inputs. Make it here:
#   PYTHONPATH=python:research/python python -m strassentile_lab.cli convert-minilm --make-extract .cache/minilm_extract.pt
# then run this with `.cache/minilm_extract.pt` and `.devdeps` carried:
#   [MINILM_ARGS="--distill-steps 800"] research/device/run_minilm_device.sh OUT_DIR
set -uo pipefail
out=${1:?usage: run_minilm_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/../.."
{
  nvidia-smi --query-gpu=name,driver_version --format=csv
  python3 -c 'import torch, transformers; print(torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)'
} 2>&1 | tee "$out/env.log"
source research/device/lab_env.sh
build=build-minilm-cuda
build_lab $build strassentile_torch
export STRASSENTILE_TORCH_LIB=$PWD/$build/lib/libstrassentile_torch.so HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
# shellcheck disable=SC2086
PYTHONPATH=python:research/python $py -m strassentile_lab.cli convert-minilm --extract .cache/minilm_extract.pt \
  --out "$out" ${MINILM_ARGS:-} 2>&1 | grep -v "Loading weights" | tee "$out/run.log"
