#!/usr/bin/env bash
# On a GPU machine: build `strassentile` with libtorch and the CUDA kernels, then run the ViT experiment of
# docs/RESULTS.md (issue 6) from research/train/vit_fashion_mnist.cfg, or its convergence sweep. What comes back in
# OUT_DIR (at most 8 files, what the device tool returns): env.log, build.log, probe.json + probe.log,
# vit_runs.json + train.log; in convergence mode vit_convergence.json + train.log + checkpoints.tar.gz + lab-bin.tar.gz
# (the built program, when under 15 MiB: a call given VIT_RESUME_FROM with it skips the build).
#
#   [VIT_PROBE=1] [VIT_PROBE_STEPS=150] [VIT_PROBE_VARIANTS='dense;stl:rank=24'] [VIT_PROBE_WIDE=768] [VIT_PROBE_FP32=1]
#   [VIT_PROBE_SHARED=1] [VIT_SWEEP=1]
#   [VIT_EPOCHS=from config] [VIT_SEEDS=from config] [VIT_PROCS=6] [VIT_DEADLINE=560]
#   [VIT_CONFIG=research/train/vit_fashion_mnist.cfg] [VIT_DATA=.cache/fm-data] research/device/run_vit_device.sh OUT_DIR
#
#   VIT_CONVERGE=1 [VIT_RESUME_FROM=previous OUT_DIR] [VIT_PROCS_PER_GPU=2] [VIT_DEADLINE=560]
#   [VIT_VARIANTS='dense;stl:rank=24,init=random'] [VIT_SEEDS=0]
#   [VIT_CONFIG=research/train/vit_convergence.cfg] [VIT_DATA=.cache/fm-data] [VIT_FLAGS='--lr 1e-3']
#   research/device/run_vit_device.sh OUT_DIR
#   A dry run on the CPU of a machine without GPU: VIT_DEVICE=cpu VIT_BIN=build/research/train/strassentile-lab.
#
# Probe (VIT_PROBE=1): every variant of the config (or of VIT_PROBE_VARIANTS, ';'-separated) alone for
#   VIT_PROBE_STEPS steps (training images/s with the GPU to itself: the dense-vs-STL throughput figure), again at
#   width VIT_PROBE_WIDE when set, with autocast off when VIT_PROBE_FP32=1, then (VIT_PROBE_SHARED=1) VIT_PROCS processes of dense at once and of STL r=24 at once (does sharing the GPU between processes add
#   throughput? The model is small and launch-bound).
# Sweep (VIT_SWEEP=1): every variant × seed of the config, spread over VIT_PROCS processes on the one GPU
#   (--shard i/N). Every process is stopped at the deadline (VIT_DEADLINE seconds after this script started);
#   each writes its JSON after every finished run, and the finished runs are merged into vit_runs.json.
# Convergence (VIT_CONVERGE=1; probe and sweep off unless asked for): every variant × seed of VIT_CONFIG (or of
#   VIT_VARIANTS and VIT_SEEDS, which override the config's, so that a short call trains the runs that matter first),
#   spread over VIT_PROCS_PER_GPU processes on each GPU of the machine (under CUDA MPS when several share a GPU:
#   convergence_calls.sh's start_mps), with --checkpoint-dir. A run that finishes leaves
#   a small checkpoint (its history); these come back packed in checkpoints.tar.gz, and the finished runs of this
#   call and of VIT_RESUME_FROM's vit_convergence.json are merged into vit_convergence.json. The next call, given
#   VIT_RESUME_FROM=this OUT_DIR (carried), reports those runs without training them and trains the rest. The state
#   of a run still training at the deadline (model and AdamW moments: 57 MB for dense, more for STL) is larger than
#   what a call brings back; it stays in .cache/vit-checkpoints/ (VIT_CHECKPOINTS), so a next call on the same
#   machine, while it is still held, continues it from its last epoch; on a fresh machine it starts over (train.log
#   says which runs finished).
# VIT_DATA holds the four Fashion-MNIST .gz files (carry it: the machine has no network). Catalogue algorithms
# (truncate:dps-4x4x4-48) are read from the repository's data/fmm.
set -uo pipefail
out=${1:?usage: run_vit_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/../.."
source research/device/convergence_calls.sh
t0=$(date +%s)
deadline=$((t0 + ${VIT_DEADLINE:-560}))
left() { echo $((deadline - $(date +%s))); }
converge=${VIT_CONVERGE:-0}
if [ "$converge" = 1 ]; then
  cfg=${VIT_CONFIG:-research/train/vit_convergence.cfg}
else
  cfg=${VIT_CONFIG:-research/train/vit_fashion_mnist.cfg}
fi
data=${VIT_DATA:-.cache/fm-data}
procs=${VIT_PROCS:-6}
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS
export OMP_NUM_THREADS=1
tmp=/tmp/vit
rm -rf "$tmp"
mkdir -p "$tmp"
py=${PYTHON:-python3}
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.total --format=csv 2>/dev/null
  command -v nvcc >/dev/null && nvcc --version | tail -2 || /usr/local/cuda/bin/nvcc --version | tail -2
  cmake --version | head -1
  date -u
  echo "cores: $cores"
  $py -c 'import sys, torch; print(sys.executable, torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
} 2>&1 | tee "$out/env.log"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)

if [ -n "${VIT_BIN:-}" ]; then  # a program built already (a local dry run of this script on the CPU: VIT_DEVICE=cpu)
  bin=$VIT_BIN
else
  source research/device/lab_env.sh
  build=build-vit-cuda
  # A convergence call brings back the program it built (lab-bin.tar.gz), so the next call skips the build.
  lab_program $build "${VIT_RESUME_FROM:+$VIT_RESUME_FROM/lab-bin.tar.gz}" "$converge"
  echo "$(left) s left"
  bin=$build/research/train/strassentile-lab
fi
dev=${VIT_DEVICE:-cuda}
# VIT_FLAGS: more flags of `train vit`, over the config's (e.g. '--lr 1e-3' for a learning-rate sweep; recorded in
# the results' config); the checkpoint folder is keyed by them too.
read -ra extra <<<"${VIT_FLAGS:-}"
run=("$bin" train vit --config "$cfg" "${extra[@]}" --device "$dev" --threads 1 --data "$data")

if [ "${VIT_PROBE:-$((1 - converge))}" = 1 ]; then
  steps=${VIT_PROBE_STEPS:-150}
  mapfile -t probe_variants < <(if [ -n "${VIT_PROBE_VARIANTS:-}" ]; then tr ';' '\n' <<<"$VIT_PROBE_VARIANTS"; else
                                  sed -n 's/^variant *= *//p' "$cfg" | sed 's/ *#.*//'; fi)
  # probe_alone TAG [ARGS...]: each probe variant alone, ARGS added to its command line.
  probe_alone() {
    local tag=$1 i=0
    shift
    echo "== probe ($tag): each variant alone, $steps steps =="
    for v in "${probe_variants[@]}"; do
      timeout 120 "${run[@]}" --variants "$v" --seeds 0 --max-steps "$steps" --log-every 0 "$@" \
        --json "$tmp/probe_${tag}_$(printf %02d $i).json" >>"$tmp/probe.log" 2>&1 || echo "probe of $v failed (exit $?)"
      i=$((i + 1))
    done
    $py research/scripts/merge_vit_json.py "$tmp"/probe_${tag}_*.json -o "$tmp/$tag.json" --set gpu="$gpu"
  }
  probe_alone alone
  # VIT_PROBE_WIDE=768: the same at that width (heads of 64), where the products are a larger share of the step.
  [ -n "${VIT_PROBE_WIDE:-}" ] && probe_alone wide --dim "$VIT_PROBE_WIDE" --heads $((VIT_PROBE_WIDE / 64))
  # VIT_PROBE_FP32=1: the same variants again with autocast off (fp32 throughout), against the config's precision.
  [ "${VIT_PROBE_FP32:-0}" = 1 ] && probe_alone fp32 --amp off
  if [ "${VIT_PROBE_SHARED:-1}" = 1 ]; then
    for v in dense "stl:rank=24,init=random"; do
      echo "== probe: $procs processes of $v at once =="
      for p in $(seq 0 $((procs - 1))); do
        timeout 120 "${run[@]}" --variants "$v" --seeds "$p" --max-steps "$steps" --log-every 0 \
          --json "$tmp/shared_${v%%:*}_$p.json" >>"$tmp/probe.log" 2>&1 &
      done
      wait
      $py research/scripts/merge_vit_json.py "$tmp"/shared_${v%%:*}_*.json -o "$tmp/shared_${v%%:*}.json"
    done
  fi
  $py - "$tmp" "$out/probe.json" "$procs" <<'EOF'
import json, os, sys
tmp, dest, procs = sys.argv[1], sys.argv[2], int(sys.argv[3])
load = lambda name: json.load(open(f"{tmp}/{name}.json")) if os.path.exists(f"{tmp}/{name}.json") else None
doc = {"alone": load("alone"), "wide": load("wide"), "fp32": load("fp32"), "shared_processes": procs,
       "shared": {v: (load(f"shared_{v}") or {}).get("runs") for v in ("dense", "stl")}}
doc["gpu"] = doc["alone"]["gpu"]
json.dump(doc, open(dest, "w"), indent=1)
for tag in ("alone", "wide", "fp32"):
    if doc[tag]:
        m, amp = doc[tag]["config"]["model"], doc[tag]["config"].get("amp") or "off"
        print(f"{tag} (dim {m['dim']}, depth {m['depth']}, amp {amp}): variant | steady training images/s | "
              "linear MFLOPs/image")
        for r in doc[tag]["runs"]:
            print(f"  {r['variant']} | {r['steady_images_per_second']:.0f} | {r['linear_flops_per_image'] / 1e6:.1f}")
for v, runs in doc["shared"].items():
    if runs:
        ips = [r["steady_images_per_second"] for r in runs]
        print(f"{procs} processes of {v} at once: sum of steady images/s {sum(ips):.0f} (each {min(ips):.0f}..{max(ips):.0f})")
EOF
  cp "$tmp/probe.log" "$out/probe.log"
  echo "probe done; $(left) s left"
fi

if [ "${VIT_SWEEP:-$((1 - converge))}" = 1 ]; then
  budget=$(($(left) - 25))
  echo "== sweep: $procs processes, ${VIT_EPOCHS:-config} epochs, seeds ${VIT_SEEDS:-config}, stopped after $budget s =="
  sweep_start=$(date +%s)
  for p in $(seq 0 $((procs - 1))); do
    timeout "$budget" "${run[@]}" ${VIT_EPOCHS:+--epochs "$VIT_EPOCHS"} ${VIT_SEEDS:+--seeds "$VIT_SEEDS"} \
      --shard "$p/$procs" --log-every 30 --json "$tmp/sweep_$p.json" >"$tmp/sweep_$p.log" 2>&1 &
  done
  wait
  echo "sweep took $(($(date +%s) - sweep_start)) s"
  for p in $(seq 0 $((procs - 1))); do
    echo "===== process $p/$procs"
    cat "$tmp/sweep_$p.log"
  done >"$out/train.log"
  $py research/scripts/merge_vit_json.py "$tmp"/sweep_*.json -o "$out/vit_runs.json" --set gpu="$gpu" \
    --set date="$(date -u +%Y-%m-%d)" --set processes_on_one_gpu="$procs" \
    --set command="VIT_EPOCHS=${VIT_EPOCHS:-} VIT_SEEDS=${VIT_SEEDS:-} VIT_PROCS=$procs research/device/run_vit_device.sh OUT"
  grep -h "^| " "$tmp"/sweep_*.log | sort | uniq
fi
if [ "$converge" = 1 ]; then
  ckpt=${VIT_CHECKPOINTS:-$(checkpoint_dir vit "${VIT_FLAGS:-}")}
  mkdir -p "$ckpt"
  previous=()
  if [ -n "${VIT_RESUME_FROM:-}" ]; then
    [ -f "$VIT_RESUME_FROM/checkpoints.tar.gz" ] && tar xzf "$VIT_RESUME_FROM/checkpoints.tar.gz" -C "$ckpt"
    [ -f "$VIT_RESUME_FROM/vit_convergence.json" ] && previous=("$VIT_RESUME_FROM/vit_convergence.json")
    echo "resuming from $VIT_RESUME_FROM: $(find "$ckpt" -name '*.pt' | wc -l) checkpoint(s)"
  fi
  gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
  [ "$gpus" -ge 1 ] || gpus=1  # a CPU dry run (VIT_DEVICE=cpu VIT_BIN=...)
  procs=$((gpus * ${VIT_PROCS_PER_GPU:-2}))
  [ "$procs" -gt "$gpus" ] && [ "$dev" = cuda ] && start_mps
  budget=$(($(left) - 30))
  echo "== convergence: $procs processes on $gpus GPU(s), stopped after $budget s =="
  for p in $(seq 0 $((procs - 1))); do
    CUDA_VISIBLE_DEVICES=$((p % gpus)) timeout "$budget" "${run[@]}" --checkpoint-dir "$ckpt" --shard "$p/$procs" \
      ${VIT_VARIANTS:+--variants "$VIT_VARIANTS"} ${VIT_SEEDS:+--seeds "$VIT_SEEDS"} --log-every 60 --json "$tmp/converge_$p.json" >"$tmp/converge_$p.log" 2>&1 &
  done
  wait
  process_logs "$procs" "$gpus" >"$out/train.log"
  # This call's finished runs and the previous calls': one record per variant and seed.
  $py research/scripts/merge_finished_runs.py "$out/vit_convergence.json" "$gpu" \
    '{test_accuracy:.2%} test accuracy at best val epoch {best_epoch} ({stopped_by}), {train_seconds:.0f} s training' \
    "${previous[@]}" "$tmp"/converge_*.json
  # Finished runs' states are kB; an unfinished dense run's is 57 MB.
  pack_finished_states "$ckpt" 15M
fi
echo "done; $(left) s left of the deadline"
