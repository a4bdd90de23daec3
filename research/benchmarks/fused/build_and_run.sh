#!/usr/bin/env bash
# Builds the fused STL forward benchmark for sm_90a and runs it.
#   CUTLASS_INCLUDE  the include/ tree holding cute/ and cutlass/ (default: .cutlass/include at the repository root)
#   BUILD_DIR        where the binary and the ptxas report go (default: build-fused at the repository root)
#   BUILD_ONLY=1     build and print the kernels' register and spill report, do not run
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cutlass_include="${CUTLASS_INCLUDE:-$root/.cutlass/include}"
build_dir="${BUILD_DIR:-$root/build-fused}"
mkdir -p "$build_dir"

source "$here/cublas_flags.sh"

nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr -Xptxas=-v -DNDEBUG \
  -isystem "$cutlass_include" "${cublas_flags[@]}" -o "$build_dir/fused_stl_bench" "$here/fused_stl_bench.cu" \
  -lcublas > "$build_dir/ptxas.log" 2>&1 || { cat "$build_dir/ptxas.log"; exit 1; }
grep -A3 "Compiling entry function '_ZN5fused17fused_stl_forward" "$build_dir/ptxas.log" |
  grep -E "entry|spill|Used" || true
if [[ "${BUILD_ONLY:-0}" != 1 ]]; then "$build_dir/fused_stl_bench"; fi
