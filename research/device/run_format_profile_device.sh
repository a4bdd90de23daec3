#!/usr/bin/env bash
# On a GPU machine: where a tile format's training step goes. Builds the torch extension, profiles STLLinear per
# kernel (research/scripts/layer_profile.py) at FORMATS, then times the backward settings through the public modules
# (every parameter learnable; Z kept; X̂ and Z kept; E_X and D frozen) at each format. OUT_DIR gets env.log,
# profile.log and bench_<format>.json / .md.
#   [FORMATS=2x2x2:3,4x2x4:12] [SHAPES=16384x4096x4096,16384x768x3072] [LIMIT=560] \
#     research/device/run_format_profile_device.sh OUT_DIR
set -uo pipefail
out=${1:?usage: run_format_profile_device.sh OUT_DIR}
mkdir -p "$out"
t0=$(date +%s)
source research/device/lab_env.sh
build=build-cuda
formats=${FORMATS:-2x2x2:3,4x2x4:12}
shapes=${SHAPES:-16384x4096x4096,16384x768x3072}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$out/env.log"
build_lab "$build" strassentile_torch
export STRASSENTILE_TORCH_LIB=$PWD/$build/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$PWD/data/fmm
left() { echo $((${LIMIT:-560} - ($(date +%s) - t0))); }
PYTHONPATH=python:research/scripts timeout "$(left)" "$py" research/scripts/layer_profile.py --formats "$formats" \
  ${shapes//,/ } >"$out/profile.log" 2>&1
echo "profile rc=$?"; grep "^==" "$out/profile.log"
for f in ${formats//,/ }; do
  tile=${f%%:*}; rank=${f##*:}; tag=${tile//x/}_r$rank
  [ "$(left)" -gt 30 ] || break
  PYTHONPATH=python timeout "$(left)" "$py" -m strassentile.benchmark --reps 10 --warmup 3 --tile "${tile//x/,}" \
    --rank "$rank" --variants stl,stl-keepz,stl-keep,stl-frozen --shapes "$shapes" --blocks 4x2048x4096 \
    --json "$out/bench_$tag.json" --markdown "$out/bench_$tag.md" >"$out/bench_$tag.log" 2>&1
  echo "bench $tile r=$rank rc=$?"; cat "$out/bench_$tag.md" 2>/dev/null
done
