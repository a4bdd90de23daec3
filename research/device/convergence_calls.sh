# Sourced by research/device/run_vit_device.sh and run_lm_device.sh: the end of a convergence call, with the
# caller's `out` (what comes back) and `tmp` (its processes' files).

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
# AdamW moments, more than a call brings back, so it stays behind and that run starts over next call.
pack_finished_states() {
  local ckpt=$1 max=$2
  (cd "$ckpt" && find . -maxdepth 1 -name '*.pt' -size "-$max" -printf '%f\n' | tar czf "$out/checkpoints.tar.gz" -T -)
  echo "checkpoints.tar.gz: $(tar tzf "$out/checkpoints.tar.gz" | wc -l) run state(s);" \
    "$(find "$ckpt" -maxdepth 1 -name '*.pt' -size "+$max" | wc -l) unfinished left behind (they start over next call)"
}
