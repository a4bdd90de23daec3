#!/usr/bin/env bash
# On a GPU machine, within one time budget: build the CUDA correctness test, the kernel benchmark and the CLI in
# one build folder, then run the test, bench_stl_kernels (tensor-core vs CUDA-core encode/decode) and
# `strassentile bench` on SHAPES. Every step has its own timeout so that logs are written before the budget ends.
#   [BUDGET=280] [SHAPES=...] [BENCH_ARGS="--reps 20 --warmup 3"] benchmarks/run_codec_device.sh OUT_DIR
# Outputs: env.log, build.log, test.log, kernels.log, bench.log, bench.json, bench.md.
set -uo pipefail
out=${1:?usage: run_codec_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
budget=${BUDGET:-280}
left() { echo $((budget - SECONDS)); }
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
py=${PYTHON:-python3}
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.used --format=csv
  nvcc --version | tail -2
  git log --oneline -1 2>/dev/null
} 2>&1 | tee "$out/env.log"

if ! pkg-config --exists libzip 2>/dev/null; then
  deps=/tmp/strassentile-deps
  mkdir -p "$deps"
  for f in .devdeps/*.deb; do dpkg -x "$f" "$deps"; done
  sed -i "s|^prefix=.*|prefix=$deps/usr|" "$deps/usr/lib/x86_64-linux-gnu/pkgconfig/libzip.pc"
  export PATH=$deps/usr/bin:$PATH PKG_CONFIG_PATH=$deps/usr/lib/x86_64-linux-gnu/pkgconfig
  export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  echo "libzip/pkg-config from .devdeps" | tee -a "$out/env.log"
fi
extra=()
cuda_root=$(dirname "$(dirname "$(command -v nvcc)")")
have_cublas=0
for f in "$cuda_root"/lib64/libcublas.so "$cuda_root"/targets/*/lib/libcublas.so; do [ -e "$f" ] && have_cublas=1; done
cxx_flags="" cuda_flags=""
if [ $have_cublas = 0 ]; then
  lib=$(find /usr /opt -name 'libcublas.so.13*' -path '*cu13*' 2>/dev/null | head -1)
  cb=$(dirname "$(dirname "$lib")")
  echo "cuBLAS from $cb" | tee -a "$out/env.log"
  extra+=(-DCUDA_cublas_LIBRARY="$lib" -DCUDA_cublasLt_LIBRARY="$(ls "$cb"/lib/libcublasLt.so.13* | head -1)")
  cxx_flags="-isystem $cb/include" cuda_flags="-isystem $cb/include"
  export LD_LIBRARY_PATH=$cb/lib:${LD_LIBRARY_PATH:-}
fi
extra+=(-DCMAKE_CXX_FLAGS="$cxx_flags" -DCMAKE_CUDA_FLAGS="$cuda_flags")
site=$($py -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null)
slt_h=$(ls "$site"/nvidia/cusparselt/include/cusparseLt.h 2>/dev/null || find /usr /opt -name cusparseLt.h 2>/dev/null | head -1)
if [ -n "$slt_h" ]; then
  slt_root=$(dirname "$(dirname "$slt_h")")
  sp_h=$(ls "$cuda_root"/include/cusparse.h "$cuda_root"/targets/*/include/cusparse.h "$site"/nvidia/cu13/include/cusparse.h \
         2>/dev/null | head -1)
  [ -n "$sp_h" ] || sp_h=$(find /usr /opt -name cusparse.h 2>/dev/null | head -1)
  echo "cuSPARSELt from $slt_root; cusparse.h from ${sp_h:-nowhere}" | tee -a "$out/env.log"
  extra+=(-DSTRASSENTILE_CUSPARSELT_ROOT="$slt_root")
  [ -n "$sp_h" ] && extra+=(-DSTRASSENTILE_CUSPARSE_INCLUDE_DIR="$(dirname "$sp_h")")
  export LD_LIBRARY_PATH=$slt_root/lib:${LD_LIBRARY_PATH:-}
fi
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

build=build-codec
timeout $(($(left) - 60)) bash -c "cmake -S . -B $build ${gen[*]} -DCMAKE_BUILD_TYPE=Release -DSTRASSENTILE_WITH_CUDA=ON \
  -DSTRASSENTILE_BUILD_TESTS=OFF -DSTRASSENTILE_BUILD_APPS=ON -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 $(printf '%q ' "${extra[@]}") >$out/build.log 2>&1 &&
  cmake --build $build -j $(nproc) --target strassentile_cuda_tests bench_stl_kernels strassentile >>$out/build.log 2>&1"
rc=$?
echo "build exit $rc at ${SECONDS}s" | tee -a "$out/env.log"
[ $rc = 0 ] || { tail -40 "$out/build.log"; exit 1; }

t=$(($(left) - 20)); [ $t -gt 50 ] && t=50
timeout $t $build/src/cuda/tests/strassentile_cuda_tests >"$out/test.log" 2>&1
echo "test exit $? at ${SECONDS}s" | tee -a "$out/env.log"
grep -E "^FAIL|passed|worst|  (encode|decode|forward) " "$out/test.log" | tail -30; grep -c "^  exact" "$out/test.log"

t=$(($(left) - 20)); [ $t -gt 40 ] && t=40
timeout $t $build/src/cuda/benchmarks/bench_stl_kernels 2>&1 | tee "$out/kernels.log"
echo "kernels done at ${SECONDS}s" | tee -a "$out/env.log"

shapes=${SHAPES:-16384x4096x4096,16384x16384x16384,8192x2048x2048,8192x4096x4096,8192x8192x8192,8192x4096x16384}
# shellcheck disable=SC2086  # BENCH_ARGS is a list of options
timeout $(($(left) - 5)) $build/strassentile bench --shapes "$shapes" --json "$out/bench.json" --markdown "$out/bench.md" \
  ${BENCH_ARGS:---reps 20 --warmup 3} >"$out/bench.log" 2>&1
echo "bench exit $? at ${SECONDS}s" | tee -a "$out/env.log"
tail -c 6000 "$out/bench.log"
