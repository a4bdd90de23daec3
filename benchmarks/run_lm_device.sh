#!/usr/bin/env bash
# On a GPU machine: build `strassentile` with libtorch (our code CPU-only, against the machine's CUDA torch: the STL
# op runs its ATen composition on the GPU, which every STL mode has), then run the language-model experiment of
# docs/RESULTS.md (issue 7). What comes back in OUT_DIR: env.log, build.log, and
#   LM_MODE=smoke: smoke.json + smoke.log — every variant at once, each stopped after LM_SMOKE_SECONDS of training:
#                  tokens/s while sharing the GPU as the full run will, to size LM_TOKENS; one generation check.
#   LM_MODE=full : lm_runs.json + train.log — every variant × seed of LM_VARIANTS / LM_SEEDS, each in its own process
#                  on the one GPU (--shard i/N), LM_TOKENS tokens each; a run still training LM_DEADLINE − 45 s after
#                  the start stops early and says so; generate.log — samples from the seed-0 checkpoints.
#
#   [LM_MODE=smoke|full] [LM_VARIANTS='dense;...'] [LM_SEEDS=0,1] [LM_TOKENS=4000000] [LM_DEADLINE=530]
#   [LM_SMOKE_SECONDS=20] [LM_FLAGS='--dim 256 --depth 4 ...'] [LM_PACK=.cache/lm-device] benchmarks/run_lm_device.sh OUT
#
# LM_PACK (carry it: the machine has no network) holds corpus.tar.gz (the *.rst.txt files under .cache/text-corpus,
# `tar -czf` from that folder) and devdeps/*.deb (what benchmarks/device_env.sh expects in .devdeps, plus
# libeigen3-dev).
set -uo pipefail
out=${1:?usage: run_lm_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
t0=$(date +%s)
deadline=$((t0 + ${LM_DEADLINE:-530}))
left() { echo $((deadline - $(date +%s))); }
mode=${LM_MODE:-smoke}
pack=${LM_PACK:-.cache/lm-device}
variants=${LM_VARIANTS:-"dense;sparse24:mask=fixed;stl:tile=4x4x4,rank=24,mode=causal;stl:tile=1x8x8,rank=28,mode=token-local;stl:tile=4x4x4,rank=32,mode=causal;lowrank:match_rank=24;stl:tile=4x4x4,rank=24"}
seeds=${LM_SEEDS:-0,1}
flags=${LM_FLAGS:-"--dim 256 --depth 4 --heads 4 --context 256 --batch 32"}
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS
export OMP_NUM_THREADS=1
tmp=/tmp/lm
rm -rf "$tmp"
mkdir -p "$tmp"
py=${PYTHON:-python3}

corpus=.cache/text-corpus
if [ ! -d "$corpus/root/usr/share/doc/python3.11/html/_sources" ]; then
  mkdir -p "$corpus" && tar -xzf "$pack/corpus.tar.gz" -C "$corpus" || { echo "no corpus: $pack/corpus.tar.gz"; exit 1; }
fi
if ! ls .devdeps/*.deb >/dev/null 2>&1; then mkdir -p .devdeps && cp "$pack"/devdeps/*.deb .devdeps/; fi
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.total --format=csv
  cmake --version | head -1
  date -u
  echo "cores: $cores; git: $(git rev-parse --short HEAD 2>/dev/null) + working tree"
  $py -c 'import sys, torch; print(sys.executable, torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
} 2>&1 | tee "$out/env.log"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
source benchmarks/device_env.sh
[ -f /usr/share/eigen3/cmake/Eigen3Config.cmake ] || extra+=(-DEigen3_DIR="$deps/usr/share/eigen3/cmake")

build=build-lm
start=$(date +%s)
cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRASSENTILE_WITH_TORCH=ON -DCMAKE_PREFIX_PATH="$torch_prefix" \
  -DSTRASSENTILE_BUILD_TESTS=OFF -DSTRASSENTILE_BUILD_APPS=ON "${extra[@]}" >"$out/build.log" 2>&1 &&
  cmake --build $build -j "$cores" --target strassentile >>"$out/build.log" 2>&1 || { tail -60 "$out/build.log"; exit 1; }
echo "build ok in $(($(date +%s) - start)) s; $(left) s left"
bin=$build/strassentile
run=("$bin" train lm $flags --device cuda --threads 1 --data "$corpus")
mapfile -t vlist < <(tr ';' '\n' <<<"$variants")

# generate_check CHECKPOINT: the same greedy continuation with the KV/STL caches and by full recompute.
generate_check() {
  local ck=$1
  for how in "" --recompute; do
    "$bin" train lm generate --checkpoint "$ck" --device cuda --temperature 0 --tokens 120 $how \
      --prompt $'The standard library\n' 2>&1 | tail -4
  done
  "$bin" train lm generate --checkpoint "$ck" --device cuda --temperature 0.8 --seed 1 --tokens 200 \
    --prompt $'Memory management\n=================\n\n' 2>&1 | tail -8
}

if [ "$mode" = smoke ]; then
  secs=${LM_SMOKE_SECONDS:-20}
  echo "== smoke: ${#vlist[@]} variants at once, $secs s of training each =="
  i=0
  for v in "${vlist[@]}"; do
    timeout $((secs + 40)) "${run[@]}" --variants "$v" --seeds 0 --tokens 1000000000 --deadline "$secs" --curve-points 0 \
      --eval-limit 262144 --log-every 5 --save "$tmp/smoke_$i." --json "$tmp/smoke_$i.json" >"$tmp/smoke_$i.log" 2>&1 &
    i=$((i + 1))
  done
  wait
  for f in "$tmp"/smoke_*.log; do echo "===== $f"; cat "$f"; done >"$out/smoke.log"
  $py scripts/merge_vit_json.py "$tmp"/smoke_*.json -o "$out/smoke.json" --set gpu="$gpu" --set date="$(date -u +%F)"
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
  [ -n "$ck" ] && generate_check "$ck"
fi

if [ "$mode" = full ]; then
  IFS=, read -ra slist <<<"$seeds"
  procs=$(( ${#vlist[@]} * ${#slist[@]} ))
  budget=$(($(left) - 45))
  echo "== full: $procs processes (${#vlist[@]} variants x ${#slist[@]} seeds), ${LM_TOKENS:-4000000} tokens each, training stops after $budget s =="
  for p in $(seq 0 $((procs - 1))); do
    timeout $((budget + 40)) "${run[@]}" --variants "$variants" --seeds "$seeds" --tokens "${LM_TOKENS:-4000000}" \
      --shard "$p/$procs" --deadline "$budget" --log-every 60 --save "$tmp/ck_" --json "$tmp/run_$p.json" \
      >"$tmp/run_$p.log" 2>&1 &
  done
  wait
  for p in $(seq 0 $((procs - 1))); do echo "===== process $p/$procs"; cat "$tmp/run_$p.log"; done >"$out/train.log"
  $py scripts/merge_vit_json.py "$tmp"/run_*.json -o "$out/lm_runs.json" --set gpu="$gpu" \
    --set date="$(date -u +%F)" --set processes_on_one_gpu="$procs" \
    --set command="LM_MODE=full LM_TOKENS=${LM_TOKENS:-4000000} LM_SEEDS=$seeds LM_DEADLINE=${LM_DEADLINE:-530} benchmarks/run_lm_device.sh OUT"
  grep -h "^| " "$tmp"/run_*.log | sort | uniq
  {
    for ck in "$tmp"/ck_dense_seed0.pt "$tmp"/ck_stl_rank_24_init_random_mode_causal_seed0.pt; do
      [ -f "$ck" ] && { echo "===== $ck"; generate_check "$ck"; }
    done
  } >"$out/generate.log" 2>&1
  cat "$out/generate.log" | head -60
fi
echo "done; $(left) s left of the deadline"
