# Sourced by research/device/run_vit_device.sh and run_lm_device.sh: the end of a convergence call, with the
# caller's `out` (what comes back) and `tmp` (its processes' files).

# checkpoint_dir NAME: where a convergence call's run states live, outside the call's scratch folder, so that the
# next call on the same machine (while it is still held: its ignored files stay) continues the runs this one left
# unfinished from their last epoch or curve point. Keyed by the research configs' contents: a run state saved under
# other settings is refused, so a changed config starts in a fresh folder.
checkpoint_dir() {
  echo ".cache/$1-checkpoints/$(cat research/train/*.cfg | sha1sum | cut -c1-12)"
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
