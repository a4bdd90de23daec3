#!/usr/bin/env bash
# On a GPU machine: build the op library with the CUDA kernels against the machine's PyTorch and run
# `convert-minilm` on a compact extract of all-MiniLM-L6-v2 and its tokenised text.
# The full model package (83 MB) cannot travel to the GPU machine in a 64 MiB transfer; the extract (encoder +
# the word-embedding rows of the tokens used, ~57 MiB) computes exactly the same on those inputs. Make it here:
#   PYTHONPATH=python:research/python python -m strassentile_lab.cli convert-minilm --make-extract .cache/minilm_extract.pt
# then run this with `.cache/minilm_extract.pt` and `.devdeps` carried.
#
# The default grid (STL r = 24, 32 x bases truncate:dps-4x4x4-48, fit x basis trained, frozen while distilling,
# 2:4 by magnitude and by SR-STE, low rank at each STL rank's FLOPs, 1500 and 6000 distillation steps, seeds 0
# and 1; 49 jobs) is about 123 minutes of H200 time. A conversion and its distillations run in one call, so the
# 6000-step jobs need grids of their own per basis choice (e.g. MINILM_ARGS="--distill-steps 6000 --distill-basis
# trained --bases truncate:dps-4x4x4-48"). Run a grid in parts, one call each, MINILM_SHARD=K/N for K = 1..N:
#   MINILM_SHARD=1/3 MINILM_ARGS="--seeds 0 --distill-steps 1500" research/device/run_minilm_device.sh OUT_DIR  (... 3/3)
# and join the parts here:
#   PYTHONPATH=python:research/python python -m strassentile_lab.cli convert-minilm --merge PART_DIR... --out DIR
# `convert-minilm --list-jobs [--shard K/N] [grid options]` prints the plan, the estimated seconds (from the
# measured 28 distillation steps/s) and the number of calls of at most --call-seconds (default 430) it
# needs; each part logs it first. MINILM_ARGS narrows or changes the grid (e.g. "--seeds 0 --distill-steps 1500");
# pass the same MINILM_ARGS to every part of one grid.
set -uo pipefail
out=${1:?usage: [MINILM_SHARD=K/N] [MINILM_ARGS=...] run_minilm_device.sh OUT_DIR}
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
args=(--extract .cache/minilm_extract.pt --out "$out")
[[ -n ${MINILM_SHARD:-} ]] && args+=(--shard "$MINILM_SHARD")
# shellcheck disable=SC2086
{
  PYTHONPATH=python:research/python $py -m strassentile_lab.cli convert-minilm "${args[@]}" ${MINILM_ARGS:-} --list-jobs
  PYTHONPATH=python:research/python $py -m strassentile_lab.cli convert-minilm "${args[@]}" ${MINILM_ARGS:-}
} 2>&1 | grep -v "Loading weights" | tee "$out/run.log"
