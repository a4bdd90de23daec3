#!/usr/bin/env bash
# On a GPU machine: build `strassentile-lab` (research/device/lab_env.sh: the `cuda` preset, Release, against the
# machine's PyTorch), then run the language-model experiment of docs/RESULTS.md (issue 7). What comes back in
# OUT_DIR (at most 8 files, what the device tool returns): env.log, build.log, and
#   LM_MODE=smoke: smoke.json + smoke.log — every variant at once, each stopped after LM_SMOKE_SECONDS of training:
#                  tokens/s while sharing the GPU as the full run will, to size LM_TOKENS; one generation check.
#   LM_MODE=full : lm_runs.json + train.log — every variant × seed of LM_VARIANTS / LM_SEEDS with LM_TOKENS tokens
#                  each: those not matching LM_SERIAL each in its own process on the one GPU, those matching it one
#                  after another in one more process (see below); a run still training LM_TAIL s before the deadline
#                  stops early and says so. generate.log — samples from the seed-0 checkpoints of dense and causal
#                  STL (greedy with caches = greedy by full recompute, then sampled); probe_alone.json — tokens/s of
#                  each variant with the GPU to itself for LM_PROBE_SECONDS, while time is left.
#   LM_MODE=converge: lm_convergence.json + train.log + checkpoints.tar.gz (+ lab-bin.tar.gz, the built program,
#                  when under 15 MiB: a call given LM_RESUME_FROM with it skips the build) — the scaled sweep of LM_CONFIG
#                  (research/train/lm_convergence.cfg: 14.4 M parameters, 40 M tokens per run, seeds 0-2), split
#                  over several calls: LM_PROCS_PER_GPU processes (default 1, so that tokens/s are the run's own;
#                  several share a GPU under CUDA MPS, and a probe gives each variant's tokens/s alone) on each GPU of
#                  the machine, each taking the runs i ≡ p (mod processes) in turn, with
#                  --checkpoint-dir. A finished run leaves a small file (its history and results, a few kB); these
#                  come back in checkpoints.tar.gz, and the finished runs of this call and of LM_RESUME_FROM's
#                  lm_convergence.json are merged into lm_convergence.json. The next call, given LM_RESUME_FROM=this
#                  OUT_DIR (carried), reports those without training and trains the rest. The state of a run still
#                  training at the deadline (parameters and AdamW moments: 172 MB for dense, more for causal STL)
#                  is larger than the 64 MiB a call brings back; it stays in .cache/lm-checkpoints/
#                  (LM_CHECKPOINTS), so a next call on the same machine, while it is still held, continues it from
#                  its last curve point; on a fresh machine it starts over (train.log says which runs finished).
#   LM_MODE=probe: probe.json + probe.log — every variant of LM_CONFIG alone on the GPU for LM_PROBE_SECONDS
#                  (default 20) of training at the config's sizes, then its incremental-decoding speed: the steady
#                  tokens/s give each run's training minutes before a converge call is spent on it.
#
#   [LM_MODE=smoke|full|converge] [LM_VARIANTS='dense;...'] [LM_SEEDS=0,1] [LM_TOKENS=4000000] [LM_DEADLINE=530]
#   [LM_SMOKE_SECONDS=20] [LM_FLAGS='--dim 256 --depth 4 ...'] [LM_SERIAL=mode=causal] [LM_TAIL=100] [LM_EVAL_LIMIT=1048576]
#   [LM_PROBE_SECONDS=8] [LM_PACK=.cache/lm-device] research/device/run_lm_device.sh OUT
#   LM_MODE=probe [LM_PROBE_SECONDS=20] [LM_CONFIG=research/train/lm_convergence.cfg] research/device/run_lm_device.sh OUT
#   LM_MODE=converge [LM_RESUME_FROM=previous OUT_DIR] [LM_PROCS_PER_GPU=1] [LM_DEADLINE=530] [LM_TAIL=60]
#   [LM_VARIANTS='...'] [LM_SEEDS=2] (override the config's)
#   [LM_CONFIG=research/train/lm_convergence.cfg] [LM_PACK=.cache/lm-device] research/device/run_lm_device.sh OUT
#
# LM_PACK (carry it: the machine has no network) holds corpus.tar.gz (the *.rst.txt files under .cache/text-corpus
# after scripts/fetch-text-corpus.sh, all five sources: 13.7 MB; from that folder,
# `find root -name '*.rst.txt' -print0 | tar -czf corpus.tar.gz --null -T -`) and devdeps/*.deb (what
# research/device/lab_env.sh expects in .devdeps, plus libeigen3-dev).
set -uo pipefail
out=${1:?usage: run_lm_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/../.."
source research/device/convergence_calls.sh
t0=$(date +%s)
deadline=$((t0 + ${LM_DEADLINE:-530}))
left() { echo $((deadline - $(date +%s))); }
mode=${LM_MODE:-smoke}
pack=${LM_PACK:-.cache/lm-device}
variants=${LM_VARIANTS:-"dense;sparse24:mask=fixed;stl:tile=4x4x4,rank=24,mode=causal;stl:tile=1x8x8,rank=28,mode=token-local;stl:tile=1x4x4,rank=7,mode=token-local;stl:tile=4x4x4,rank=32,mode=causal;lowrank:match_rank=24;stl:tile=4x4x4,rank=24"}
seeds=${LM_SEEDS:-0,1}
flags=${LM_FLAGS:-"--dim 256 --depth 4 --heads 4 --context 256 --batch 32"}
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS
export OMP_NUM_THREADS=1
tmp=/tmp/lm
rm -rf "$tmp"
mkdir -p "$tmp"
py=${PYTHON:-python3}

corpus=.cache/text-corpus
if [ ! -d "$corpus/root/usr/share/doc/python3.11/html/_sources" ] || [ ! -d "$corpus/root/usr/share/doc/cmake-data/html/_sources" ]; then
  mkdir -p "$corpus" && tar -xzf "$pack/corpus.tar.gz" -C "$corpus" || { echo "no corpus: $pack/corpus.tar.gz"; exit 1; }
fi
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.total --format=csv 2>/dev/null
  cmake --version | head -1
  date -u
  echo "cores: $cores; git: $(git rev-parse --short HEAD 2>/dev/null) + working tree"
  $py -c 'import sys, torch; print(sys.executable, torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
} 2>&1 | tee "$out/env.log"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
if [ -n "${LM_BIN:-}" ]; then  # a binary built already (e.g. a local dry run of this script on the CPU)
  bin=$LM_BIN
else
  if ! ls .devdeps/*.deb >/dev/null 2>&1; then mkdir -p .devdeps && cp "$pack"/devdeps/*.deb .devdeps/; fi
  source research/device/lab_env.sh
  build=build-lm
  bin=$build/research/train/strassentile-lab
  # A converge call brings back the program it built, so the next call, on the same machine image, skips the build.
  lab_program $build "${LM_RESUME_FROM:+$LM_RESUME_FROM/lab-bin.tar.gz}" "$([ "$mode" = converge ] && echo 1)"
  echo "$(left) s left"
fi
dev=${LM_DEVICE:-cuda}
run=("$bin" train lm $flags --device "$dev" --threads 1 --data "$corpus")
mapfile -t vlist < <(tr ';' '\n' <<<"$variants")

# generate_check CHECKPOINT: the same greedy continuation with the KV/STL caches and by full recompute.
generate_check() {
  local ck=$1
  for how in "" --recompute; do
    "$bin" train lm generate --checkpoint "$ck" --device "$dev" --temperature 0 --tokens 120 $how \
      --prompt $'The standard library\n' 2>&1 | tail -4
  done
  "$bin" train lm generate --checkpoint "$ck" --device "$dev" --temperature 0.8 --seed 1 --tokens 200 \
    --prompt $'Memory management\n=================\n\n' 2>&1 | tail -8
}

if [ "$mode" = smoke ]; then
  secs=${LM_SMOKE_SECONDS:-20}
  echo "== smoke: ${#vlist[@]} variants at once, $secs s of training each =="
  i=0
  for v in "${vlist[@]}"; do
    timeout $((secs + 40)) "${run[@]}" --variants "$v" --seeds 0 --tokens 1000000000 --deadline "$secs" --curve-points 0 \
      --eval-limit 65536 --log-every 5 --save "$tmp/smoke_$i." --json "$tmp/smoke_$i.json" >"$tmp/smoke_$i.log" 2>&1 &
    i=$((i + 1))
  done
  wait
  for f in "$tmp"/smoke_*.log; do echo "===== $f"; cat "$f"; done >"$out/smoke.log"
  $py research/scripts/merge_vit_json.py "$tmp"/smoke_*.json -o "$out/smoke.json" --set gpu="$gpu" --set date="$(date -u +%F)"
  $py - "$out/smoke.json" <<'PY'
import json, math, sys
doc = json.load(open(sys.argv[1]))
total = 0
for r in doc["runs"]:
    total += r["tokens_per_second"]
    print(f"{r['variant']:45s} {r['steady_tokens_per_second']:9.0f} tok/s steady ({r['tokens']/1e6:.2f} M tokens), "
          f"val ppl {math.exp(r['val_loss']):.3f}, linear MFLOPs/token {r['linear_flops_per_token']/1e6:.3f} "
          f"(products {r['linear_product_flops_per_token']/1e6:.3f})")
print(f"sum over the {len(doc['runs'])} processes: {total:.0f} tokens/s")
PY
  ck=$(ls "$tmp"/smoke_2.*.pt 2>/dev/null | head -1)
  if [ -n "$ck" ]; then
    for how in "" --recompute; do
      "$bin" train lm generate --checkpoint "$ck" --device "$dev" --temperature 0 --tokens 100 $how --prompt $'The ' 2>&1 | tail -3
    done
  fi
fi

if [ "$mode" = full ]; then
  # Variants matching LM_SERIAL run one after another in one process, the rest each in its own process at once:
  # STL mode causal builds its masks on the CPU and copies them to the GPU in every call (6 copies, i.e. host-device
  # synchronisations, per layer and step), and with other processes time-slicing the GPU every synchronisation
  # waits for their turn: the smoke run measured 4,100 tokens/s for it against 107,000 for mode tile.
  serial=${LM_SERIAL:-mode=causal}
  IFS=, read -ra slist <<<"$seeds"
  par=() ser=()
  for v in "${vlist[@]}"; do if [[ $v == *"$serial"* ]]; then ser+=("$v"); else par+=("$v"); fi; done
  train_end=$((deadline - ${LM_TAIL:-100}))  # then: final evaluation (<= 70 s), merge, generation, probes
  common=(--tokens "${LM_TOKENS:-4000000}" --curve-points 8 --curve-tokens 65536 --eval-limit "${LM_EVAL_LIMIT:-1048576}"
          --log-every 60 --save "$tmp/ck_")
  echo "== full: ${#par[@]} variants x ${#slist[@]} seeds in parallel processes, ${#ser[@]} x ${#slist[@]} in one serial process; ${LM_TOKENS:-4000000} tokens each; training stops $((train_end - $(date +%s))) s from now =="
  i=0
  for s in "${slist[@]}"; do
    for v in "${par[@]}"; do
      timeout $((train_end + 70 - $(date +%s))) "${run[@]}" --variants "$v" --seeds "$s" "${common[@]}" \
        --deadline $((train_end - $(date +%s))) --json "$tmp/run_$(printf %02d $i).json" >"$tmp/run_$(printf %02d $i).log" 2>&1 &
      i=$((i + 1))
    done
  done
  (
    j=50
    for v in "${ser[@]}"; do
      for s in "${slist[@]}"; do
        d=$((train_end - $(date +%s)))
        [ "$d" -gt 20 ] || { echo "no time left for $v seed $s"; continue; }
        timeout $((d + 70)) "${run[@]}" --variants "$v" --seeds "$s" "${common[@]}" --deadline "$d" \
          --json "$tmp/run_$j.json" >"$tmp/run_$j.log" 2>&1
        j=$((j + 1))
      done
    done
  ) &
  wait
  for f in "$tmp"/run_*.log; do echo "===== $f"; cat "$f"; done >"$out/train.log"
  $py research/scripts/merge_vit_json.py "$tmp"/run_*.json -o "$out/lm_runs.json" --set gpu="$gpu" \
    --set date="$(date -u +%F)" --set processes_on_one_gpu="${#par[@]}x${#slist[@]} parallel + 1 serial" \
    --set command="LM_MODE=full LM_TOKENS=${LM_TOKENS:-4000000} LM_SEEDS=$seeds LM_DEADLINE=${LM_DEADLINE:-530} research/device/run_lm_device.sh OUT"
  grep -h "^| " "$tmp"/run_*.log | sort | uniq
  {
    for ck in "$tmp"/ck_dense_seed0.pt "$tmp"/ck_stl_rank_24_init_random_mode_causal_seed0.pt; do
      [ -f "$ck" ] && { echo "===== $ck"; generate_check "$ck"; }
    done
  } >"$out/generate.log" 2>&1
  head -c 6000 "$out/generate.log"
  # Training throughput of each variant with the GPU to itself, LM_PROBE_SECONDS each, while time is left.
  probe=${LM_PROBE_SECONDS:-8}
  i=0
  for v in "${vlist[@]}"; do
    [ "$(left)" -gt $((probe + 25)) ] || break
    timeout $((probe + 20)) "${run[@]}" --variants "$v" --seeds 0 --tokens 1000000000 --deadline "$probe" --curve-points 0 \
      --eval-limit 8192 --log-every 0 --json "$tmp/probe_$(printf %02d $i).json" >>"$tmp/probe.log" 2>&1
    i=$((i + 1))
  done
  if ls "$tmp"/probe_*.json >/dev/null 2>&1; then
    $py research/scripts/merge_vit_json.py "$tmp"/probe_*.json -o "$out/probe_alone.json" --set gpu="$gpu" --set date="$(date -u +%F)"
    $py - "$out/probe_alone.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["runs"]:
    print(f"alone: {r['variant']:50s} {r['steady_tokens_per_second']:9.0f} tokens/s steady")
PY
  fi
fi
cfg=${LM_CONFIG:-research/train/lm_convergence.cfg}
if [ "$mode" = probe ]; then
  secs=${LM_PROBE_SECONDS:-20}
  mapfile -t cvariants < <(sed -n 's/^variant *= *//p' "$cfg" | sed 's/ *#.*//')
  echo "== probe: ${#cvariants[@]} variants of $cfg, each alone for $secs s of training =="
  i=0
  for v in "${cvariants[@]}"; do
    [ "$(left)" -gt $((secs + 40)) ] || { echo "no time left for $v"; break; }
    timeout $((secs + 60)) "$bin" train lm --config "$cfg" --device "$dev" --threads 1 --data "$corpus" --variants "$v" \
      --seeds 0 --deadline "$secs" --curve-points 0 --eval-limit 65536 --log-every 5 \
      --json "$tmp/probe_$(printf %02d $i).json" >>"$tmp/probe.log" 2>&1 || echo "probe of $v failed (exit $?)"
    i=$((i + 1))
  done
  cp "$tmp/probe.log" "$out/probe.log"
  $py research/scripts/merge_vit_json.py "$tmp"/probe_*.json -o "$out/probe.json" --set gpu="$gpu" --set date="$(date -u +%F)"
  $py - "$out/probe.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
planned = doc["config"]["tokens_per_run"]
print(f"variant | steady training tokens/s | minutes for {planned / 1e6:.1f} M tokens | decoding tokens/s (batch "
      f"{doc['config']['decode_batch']})")
for r in doc["runs"]:
    rate = r["steady_tokens_per_second"]
    minutes = planned / rate / 60 if rate > 0 else float("nan")
    print(f"{r['variant']} | {rate:.0f} | {minutes:.1f} | {r['decode_tokens_per_second']:.0f}")
PY
fi

if [ "$mode" = converge ]; then
  ckpt=${LM_CHECKPOINTS:-$(checkpoint_dir lm)}
  mkdir -p "$ckpt"
  previous=()
  if [ -n "${LM_RESUME_FROM:-}" ]; then
    [ -f "$LM_RESUME_FROM/checkpoints.tar.gz" ] && tar xzf "$LM_RESUME_FROM/checkpoints.tar.gz" -C "$ckpt"
    [ -f "$LM_RESUME_FROM/lm_convergence.json" ] && previous=("$LM_RESUME_FROM/lm_convergence.json")
    echo "resuming from $LM_RESUME_FROM: $(find "$ckpt" -name '*.pt' | wc -l) finished run(s)"
  fi
  gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
  [ "$gpus" -ge 1 ] || gpus=1  # a CPU dry run (LM_DEVICE=cpu LM_BIN=...)
  procs=$((gpus * ${LM_PROCS_PER_GPU:-1}))
  [ "$procs" -gt "$gpus" ] && [ "$dev" = cuda ] && start_mps
  train_end=$((deadline - ${LM_TAIL:-60}))  # then: the last run's final evaluation and decoding probe, the merge
  echo "== converge: $cfg, $procs process(es) on $gpus GPU(s); training stops $((train_end - $(date +%s))) s from now =="
  # LM_VARIANTS / LM_SEEDS, when set, override the config's (a call that trains only the runs still missing).
  select=()
  [ -n "${LM_VARIANTS:-}" ] && select+=(--variants "$LM_VARIANTS")
  [ -n "${LM_SEEDS:-}" ] && select+=(--seeds "$LM_SEEDS")
  for p in $(seq 0 $((procs - 1))); do
    CUDA_VISIBLE_DEVICES=$((p % gpus)) timeout $((deadline - 10 - $(date +%s))) "$bin" train lm --config "$cfg" \
      "${select[@]}" --device "$dev" --threads 1 --data "$corpus" --checkpoint-dir "$ckpt" --shard "$p/$procs" --log-every 60 \
      --deadline $((train_end - $(date +%s))) --json "$tmp/converge_$p.json" >"$tmp/converge_$p.log" 2>&1 &
  done
  wait
  process_logs "$procs" "$gpus" >"$out/train.log"
  # This call's finished runs and the previous calls': one record per variant and seed.
  $py research/scripts/merge_finished_runs.py "$out/lm_convergence.json" "$gpu" \
    '{test_bits_per_byte:.4f} bits/byte (ppl {test_ppl:.3f}), {train_seconds:.0f} s training at {tokens_per_second:.0f} tokens/s, decoding {decode_tokens_per_second:.0f} tokens/s' \
    "${previous[@]}" "$tmp"/converge_*.json
  # Finished runs' states are kB; unfinished ones 77 MB and more at the config's sizes (toy models' are smaller).
  pack_finished_states "$ckpt" 4M
fi
echo "done; $(left) s left of the deadline"
