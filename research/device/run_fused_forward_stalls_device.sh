#!/usr/bin/env bash
# On a GPU machine: why the fused forward's products and stores take turns (research/benchmarks/fused/ROOFLINE.md,
# "The narrow forwards in bytes"). Builds the torch extension (its CUDA objects carry -lineinfo), then profiles the fused
# products + decode kernel under ncu at the narrow layers (`<2,2,2>` r = 3, bf16, STLLinear forward, the fused path
# forced): speed of light, warp states with every stall reason, scheduler, memory tables, and the source lines that
# stall most. What to read: LG throttle (the epilogue's st.global issue) against long scoreboard / barrier (waits),
# and DRAM against SM throughput. OUT_DIR gets env.log, build.log and ncu_<shape>.log.
#   [SHAPES=65536x384x1536,16384x768x3072] [LIMIT=540] research/device/run_fused_forward_stalls_device.sh OUT_DIR
set -uo pipefail
out=${1:?usage: run_fused_forward_stalls_device.sh OUT_DIR}
mkdir -p "$out"
t0=$(date +%s)
source research/device/lab_env.sh
build=build-cuda
shapes=${SHAPES:-65536x384x1536,16384x768x3072}
left() { echo $((${LIMIT:-540} - ($(date +%s) - t0))); }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$out/env.log"
build_lab "$build" strassentile_torch
export STRASSENTILE_TORCH_LIB=$PWD/$build/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$PWD/data/fmm PYTHONPATH=python
command -v ncu >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
for shape in ${shapes//,/ }; do
  IFS=x read -r m k n <<<"$shape"
  [ "$(left)" -gt 30 ] || break
  # Three forwards: ncu skips the first (tensor maps, the first touch of the workspace) and profiles the second.
  timeout "$(left)" ncu --kernel-name regex:products_decode_sm90 --launch-skip 1 --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis_Tables \
    --section SourceCounters --print-details all \
    "$py" -c "
import torch, strassentile as st
st.set_fused_forward('always')
layer = st.STLLinear($k, $n, tile=(2, 2, 2), rank=3).cuda().to(torch.bfloat16)
x = torch.randn($m, $k, device='cuda', dtype=torch.bfloat16)
with torch.no_grad():
    for _ in range(3): layer(x)
torch.cuda.synchronize()
" >"$out/ncu_$shape.log" 2>&1
  echo "ncu $shape rc=$?"
  grep -E "Duration|DRAM Throughput|Compute \(SM\) Throughput|Stall|stall|Issue Slot|Eligible" "$out/ncu_$shape.log" | head -40
done
echo "total $(($(date +%s) - t0)) s"
