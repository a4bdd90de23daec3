# Sourced by research/device/run_vit_device.sh and run_lm_device.sh: the end of a convergence call, with the
# caller's `out` (what comes back) and `tmp` (its processes' files).

# checkpoint_dir NAME [FLAGS]: where a convergence call's run states live, outside the call's scratch folder, so that
# the next call on the same machine (while it is still held: its ignored files stay) continues the runs this one left
# unfinished from their last epoch or curve point. Keyed by the research configs' contents and the flags given over
# them: a run state saved under other settings is refused, so changed settings start in a fresh folder.
checkpoint_dir() {
  echo ".cache/$1-checkpoints/$({ cat research/train/*.cfg; printf '%s' "${2:-}"; } | sha1sum | cut -c1-12)"
}

# process_logs N GPUS: the N training processes' logs ($tmp/converge_P.log), one after another under a header.
process_logs() {
  local n=$1 gpus=$2 p
  for p in $(seq 0 $((n - 1))); do
    echo "===== process $p/$n (GPU $((p % gpus)))"
    cat "$tmp/converge_$p.log"
  done
}

# pack_finished_states CKPT MAX: the run states in CKPT smaller than MAX (a find -size, e.g. 4M) into
# $out/checkpoints.tar.gz. A finished run's state holds its history alone; an unfinished run's holds the model and
# AdamW moments, more than a call brings back, so it stays behind: the next call continues it on the same machine
# (checkpoint_dir), and starts it over on a fresh one.
pack_finished_states() {
  local ckpt=$1 max=$2
  (cd "$ckpt" && find . -maxdepth 1 -name '*.pt' -size "-$max" -printf '%f\n' | tar czf "$out/checkpoints.tar.gz" -T -)
  echo "checkpoints.tar.gz: $(tar tzf "$out/checkpoints.tar.gz" | wc -l) run state(s);" \
    "$(find "$ckpt" -maxdepth 1 -name '*.pt' -size "+$max" | wc -l) unfinished left in $ckpt (continued by the next" \
    "call on this machine, started over on a fresh one)"
}

# start_mps: the CUDA MPS daemon, when the machine has it and several training processes will share a GPU, so that
# their small kernels run side by side instead of time-sliced (the ViT's 4.8 M parameter runs at width 256 fill a
# fraction of an H100 each). Exports the pipe folders the processes need; a daemon already running is reused; if a
# CUDA context cannot be made through it, MPS is turned off again and the processes time-slice.
start_mps() {
  command -v nvidia-cuda-mps-control >/dev/null || { echo "MPS: not on this machine (processes time-slice)"; return 0; }
  export CUDA_MPS_PIPE_DIRECTORY=${CUDA_MPS_PIPE_DIRECTORY:-/tmp/mps-pipe} CUDA_MPS_LOG_DIRECTORY=${CUDA_MPS_LOG_DIRECTORY:-/tmp/mps-log}
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  pgrep -x nvidia-cuda-mps >/dev/null || pgrep -f "nvidia-cuda-mps-control -d" >/dev/null || nvidia-cuda-mps-control -d
  sleep 1
  if ${py:-python3} -c "import torch; torch.zeros(1).cuda(); torch.cuda.synchronize()" >/dev/null 2>&1; then
    echo "MPS: on"
  else
    echo quit | nvidia-cuda-mps-control 2>/dev/null
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    echo "MPS: failed to start, off (processes time-slice)"
  fi
}
