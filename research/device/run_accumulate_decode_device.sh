#!/usr/bin/env bash
# On a GPU machine (sm_90): build the accumulate-decode bench with the library linked and run it
# (research/benchmarks/fused/accumulate_decode_bench.cu: the fused kernel against dense and cuBLAS's batched products,
# every Y checked against an fp32 reference, then the whole forward fused and unfused). OUT_DIR gets env.log,
# build.log and bench.log (the markdown tables). Exits with the bench's status (1: a Y off its reference).
#   [BENCH_LIMIT=300] research/device/run_accumulate_decode_device.sh OUT_DIR
set -uo pipefail
out=${1:?usage: run_accumulate_decode_device.sh OUT_DIR}
mkdir -p "$out"
source research/device/lab_env.sh
build=build-cuda
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$out/env.log"
build_lab "$build" accumulate-decode-bench
exe=$(find "$build" -name accumulate-decode-bench -type f -perm -u+x | head -1)
timeout "${BENCH_LIMIT:-300}" "$exe" 2>&1 | tee "$out/bench.log"
exit "${PIPESTATUS[0]}"
