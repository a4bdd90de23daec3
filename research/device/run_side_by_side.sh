#!/usr/bin/env bash
# On a GPU machine: the language model's and the ViT's convergence sweeps at once, sharing each GPU under CUDA MPS
# (run_lm_device.sh with LM_MODE=converge, run_vit_device.sh with VIT_CONVERGE=1). Their models are small (14.4 M and
# 4.8 M parameters) and fill a fraction of an H100 each, so one call trains both. The lab program is built once (or
# unpacked from SIDE_RESUME_FROM's lab-bin.tar.gz) and handed to both (LAB_PREBUILT). Each sweep reads its own
# variables (LM_CONFIG, LM_PROCS_PER_GPU, VIT_CONFIG, VIT_VARIANTS, VIT_SEEDS, VIT_PROCS_PER_GPU, ...) as in its
# script; both stop at SIDE_DEADLINE seconds after this script started. Training seconds of runs that share a GPU
# are not the runs' own: time to accuracy takes each variant's speed alone from a probe (plot_lm.py / plot_vit.py
# --throughput).
#
# SIDE_PROBE=lm,vit first measures each variant's speed with the GPU to itself, before the sweeps start: the LM
# config's variants (LM_MODE=probe, LM_PROBE_SECONDS each) and VIT_PROBE_CONFIG's (default vit_convergence.cfg,
# VIT_PROBE_STEPS each); both come back in probes.tar.gz, the --throughput files of plot_lm.py and plot_vit.py.
#
# What comes back in OUT (at most 7 files): lab-bin.tar.gz, lm.tar.gz and vit.tar.gz (each sweep's folder: its JSON,
# train.log, checkpoints.tar.gz of finished runs), probes.tar.gz (with SIDE_PROBE), side_by_side.log, and the
# build's build.log and env.log. The next call, given SIDE_RESUME_FROM=this OUT
# (carried), skips the build and continues both sweeps (finished runs are reported, not trained; runs left
# unfinished continue from their last epoch or curve point while the machine is still held).
#
#   [SIDE_RESUME_FROM=previous OUT] [SIDE_DEADLINE=575] [SIDE_PROBE=lm,vit] [LM_PROCS_PER_GPU=6] [VIT_PROCS_PER_GPU=8] \
#   [VIT_CONFIG=research/train/vit_init_sweep.cfg] [VIT_VARIANTS='...'] [LM_PACK=.cache/lm-device] \
#     research/device/run_side_by_side.sh OUT
# Carry .devdeps, LM_PACK (corpus.tar.gz) and .cache/fm-data (Fashion-MNIST): the machine has no network.
# A dry run on a machine without GPU: SIDE_BIN=build/research/train/strassentile-lab SIDE_DEVICE=cpu, with small
# LM_CONFIG and VIT_CONFIG.
set -uo pipefail
out=${1:?usage: run_side_by_side.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.."
source research/device/convergence_calls.sh
t0=$(date +%s)
deadline=$((t0 + ${SIDE_DEADLINE:-575}))
left() { echo $((deadline - $(date +%s))); }
py=${PYTHON:-python3}
work=/tmp/side_by_side
rm -rf "$work"
mkdir -p "$work/lm" "$work/vit" "$work/resume"
log=$out/side_by_side.log

lm_resume="" vit_resume=""
if [ -n "${SIDE_RESUME_FROM:-}" ]; then
  for part in lm vit; do
    if [ -f "$SIDE_RESUME_FROM/$part.tar.gz" ]; then
      mkdir -p "$work/resume/$part" && tar xzf "$SIDE_RESUME_FROM/$part.tar.gz" -C "$work/resume/$part"
    fi
  done
  [ -d "$work/resume/lm" ] && lm_resume=$work/resume/lm
  [ -d "$work/resume/vit" ] && vit_resume=$work/resume/vit
fi

echo "== side by side: $(date -u)" >>"$log"
if [ -n "${SIDE_BIN:-}" ]; then
  # A program built already, on SIDE_DEVICE (a dry run on a machine without GPU: SIDE_DEVICE=cpu).
  export LM_BIN=$SIDE_BIN VIT_BIN=$SIDE_BIN LM_DEVICE=${SIDE_DEVICE:-cuda} VIT_DEVICE=${SIDE_DEVICE:-cuda}
else
  {
    # The program both sweeps run; bring it back so that the next call skips the build.
    (
      source research/device/lab_env.sh
      lab_program build-lab "${SIDE_RESUME_FROM:+$SIDE_RESUME_FROM/lab-bin.tar.gz}" 1
    ) || { echo "no lab program"; exit 1; }
    echo "$(left) s left after the program"
    start_mps
  } >>"$log" 2>&1
  [ -f "$out/lab-bin.tar.gz" ] || cp "${SIDE_RESUME_FROM:-/nonexistent}/lab-bin.tar.gz" "$out/" 2>/dev/null
  export LAB_PREBUILT=$out/lab-bin.tar.gz
  [ -f "$LAB_PREBUILT" ] || { echo "no lab-bin.tar.gz to share" >>"$log"; exit 1; }
fi

# Each variant alone first, while nothing else runs on the GPU.
probes=()
for probe in ${SIDE_PROBE:+${SIDE_PROBE//,/ }}; do
  case $probe in
    lm) LM_MODE=probe LM_DEADLINE=$(($(left) - 60)) bash research/device/run_lm_device.sh "$work/probe_lm" >>"$log" 2>&1
        probes+=(probe_lm) ;;
    vit) VIT_CONVERGE=0 VIT_SWEEP=0 VIT_PROBE=1 VIT_PROBE_SHARED=0 VIT_DEADLINE=$(($(left) - 60)) \
           VIT_CONFIG=${VIT_PROBE_CONFIG:-research/train/vit_convergence.cfg} \
           bash research/device/run_vit_device.sh "$work/probe_vit" >>"$log" 2>&1
         probes+=(probe_vit) ;;
    *) echo "SIDE_PROBE: unknown '$probe' (lm, vit)" >>"$log" ;;
  esac
done
[ ${#probes[@]} -gt 0 ] && tar czf "$out/probes.tar.gz" -C "$work" "${probes[@]}"

LM_RESUME_FROM=$lm_resume LM_MODE=converge LM_DEADLINE=$(left) LM_PROCS_PER_GPU=${LM_PROCS_PER_GPU:-6} \
  bash research/device/run_lm_device.sh "$work/lm" >"$work/lm/driver.log" 2>&1 &
lm=$!
VIT_RESUME_FROM=$vit_resume VIT_CONVERGE=1 VIT_DEADLINE=$(left) VIT_PROCS_PER_GPU=${VIT_PROCS_PER_GPU:-8} \
  bash research/device/run_vit_device.sh "$work/vit" >"$work/vit/driver.log" 2>&1 &
vit=$!
wait $lm; lm_rc=$?
wait $vit; vit_rc=$?
{
  echo "== language model (exit $lm_rc)"; tail -30 "$work/lm/driver.log"
  echo "== ViT (exit $vit_rc)"; tail -30 "$work/vit/driver.log"
} >>"$log" 2>&1
tar czf "$out/lm.tar.gz" -C "$work/lm" .
tar czf "$out/vit.tar.gz" -C "$work/vit" .
cat "$log"
echo "done; $(left) s left of the deadline"
