#!/usr/bin/env bash
# On a GPU machine: build the op library with CUDA (only the strassentile_torch target), then run research/python/strassentile_lab/exact_accuracy.py: exact <4,4,4> modes (strassen2 r=49,
# dps-4x4x4-48 r=48) in bf16 against an fp64 reference and dense bf16, their forward time, and the peak memory
# of STL r=24 vs dense. Logs and exact_accuracy.json go to OUT_DIR.
#   [PYTHON=python3] [FMM_DIR=data/fmm] research/device/run_exact_accuracy_device.sh OUT_DIR
# Debian packages the machine may lack come from .devdeps/ (scripts/gpu-env.sh).
set -uo pipefail
out=${1:?usage: run_exact_accuracy_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/../.."
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
py=${PYTHON:-python3}
fmm=${FMM_DIR:-data/fmm}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.total --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
  date -u
  $py -c 'import sys, torch; print(sys.executable, torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
} 2>&1 | tee "$out/env.log"

source research/device/lab_env.sh

build=build-torch-cuda
build_lab $build strassentile_torch

export STRASSENTILE_TORCH_LIB=$PWD/$build/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$PWD/$fmm
export PYTHONPATH=python:research/python PYTHONUNBUFFERED=1
# Each stage in its own process (a crash in one leaves the others' results); -X faulthandler prints where.
echo "== probes: small CUDA op calls, then the catalogue (libzip/.npz) =="
EXACT_SMALL=1 EXACT_DEV=cuda EXACT_STAGE=acc EXACT_DPS_SOURCE=sms timeout 60 $py -X faulthandler \
  research/python/strassentile_lab/exact_accuracy.py "$out/probe_small.json" >"$out/probe.log" 2>&1
echo "small CUDA probe exit $?"; tail -5 "$out/probe.log" | cut -c1-300
timeout 60 $py -X faulthandler -c 'import os, strassentile as s
s.algorithms.set_data_dir(os.environ["STRASSENTILE_FMM_DIR"]); a = s.algorithms.get("dps-4x4x4-48")
print("registry dps-4x4x4-48:", a.tile, a.rank, a.source)' >>"$out/probe.log" 2>&1
reg=$?; echo "catalogue probe exit $reg"; tail -4 "$out/probe.log" | cut -c1-300
dps_source=sms; [ $reg = 0 ] && dps_source=registry
echo "== memory: STL r=24 vs dense, 16384x4096x4096 bf16 =="
EXACT_STAGE=memory EXACT_DPS_SOURCE=$dps_source timeout 150 $py -X faulthandler research/python/strassentile_lab/exact_accuracy.py \
  "$out/memory.json" 2>&1 | tee "$out/exact_accuracy.log"
echo "exit ${PIPESTATUS[0]}"
for alg in strassen2 dps-4x4x4-48; do
  echo "== exact mode $alg in bf16: accuracy and forward time (dps source: $dps_source) =="
  EXACT_STAGE=acc EXACT_ALGS=$alg EXACT_DPS_SOURCE=$dps_source timeout 200 $py -X faulthandler \
    research/python/strassentile_lab/exact_accuracy.py "$out/acc_$alg.json" 2>&1 | tee -a "$out/exact_accuracy.log"
  echo "exit ${PIPESTATUS[0]}"
done
$py - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
merged = {"accuracy": [], "timing": [], "stages": {}}
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    if f.endswith("exact_accuracy.json"):
        continue
    d = json.load(open(f))
    name = os.path.basename(f)[:-5]
    merged["stages"][name] = {k: v for k, v in d.items() if k not in ("accuracy", "timing", "memory")}
    if name == "probe_small":
        merged["probe_small"] = d.get("accuracy")
        continue
    for k, v in d.items():
        if k == "memory":
            merged["memory"] = v
        elif k in ("accuracy", "timing"):
            merged[k] += [dict(r, stage=name) for r in v]
        elif k not in merged["stages"]:
            merged.setdefault(k, v)
json.dump(merged, open(os.path.join(out, "exact_accuracy.json"), "w"), indent=1)
print("merged", sorted(merged["stages"]))
PY
nvidia-smi --query-gpu=name,clocks.sm,temperature.gpu --format=csv,noheader
