#!/usr/bin/env bash
# Builds the benchmark of the hand-written WGMMA kernel (wgmma_products.cuh) for sm_90a and runs it: products_bench,
# the r products of the STL forward against cuBLAS's strided-batched GEMM and the dense GEMM.
# Usage: products_bench.sh [products_bench]
#   BUILD_DIR     where the binary and the ptxas report go (default: build-fused at the repository root)
#   BUILD_ONLY=1  build and print the kernel's register and spill report, do not run
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
build_dir="${BUILD_DIR:-$root/build-fused}"
bench="${1:-products_bench}"
mkdir -p "$build_dir"

source "$here/cublas_flags.sh"

nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -Xptxas=-v -I"$root/benchmarks" "${cublas_flags[@]}" \
  -o "$build_dir/$bench" "$here/$bench.cu" -lcublas > "$build_dir/${bench}_ptxas.log" 2>&1 ||
  { cat "$build_dir/${bench}_ptxas.log"; exit 1; }
grep -A3 -E "Compiling entry function '_ZN14wgmma_products" "$build_dir/${bench}_ptxas.log" |
  grep -E "entry|spill|Used" || true
if grep -q C7510 "$build_dir/${bench}_ptxas.log"; then echo "$bench: WGMMA serialised (ptxas C7510)" >&2; exit 1; fi
if [[ "${BUILD_ONLY:-0}" != 1 ]]; then "$build_dir/$bench"; fi
