#!/usr/bin/env bash
# On a GPU machine (issue 9): build the op library with the CUDA kernels, then run research/scripts/train_distributed.py
# under torchrun with 2 processes: DDP and FSDP2, each checked against one process and resumed from a
# torch.distributed.checkpoint. With 2+ GPUs: one GPU per process, NCCL. With one GPU: both processes on it,
# gloo (STRASSENTILE_DIST_SHARE_GPU=1), which exercises the CUDA op under DDP/FSDP2 but not NCCL.
#   research/device/run_distributed_device.sh OUT_DIR
set -uo pipefail
out=${1:?usage: run_distributed_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/../.."
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
{ nvidia-smi --query-gpu=name,driver_version --format=csv
  python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "nccl", torch.cuda.nccl.version())'
  echo "GPUs: $gpus"; } 2>&1 | tee "$out/env.log"
source research/device/lab_env.sh
build=build-distributed-cuda
build_lab $build strassentile_torch
export STRASSENTILE_TORCH_LIB=$PWD/$build/lib/libstrassentile_torch.so PYTHONUNBUFFERED=1
[ "$gpus" -ge 2 ] || export STRASSENTILE_DIST_SHARE_GPU=1
rm -rf /tmp/stl-ckpt
timeout 300 $py -m torch.distributed.run --standalone --nproc_per_node 2 research/scripts/train_distributed.py \
  --strategy ddp fsdp --steps 4 --check --checkpoint-dir /tmp/stl-ckpt --output "$out/distributed.pt" \
  >"$out/distributed.log" 2>&1
echo "torchrun exit $?"
grep -vE "^\s*$|Warning|warn" "$out/distributed.log" | tail -30
