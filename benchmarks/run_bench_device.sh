#!/usr/bin/env bash
# On a GPU machine: build the CLI with the CUDA layer (and cuSPARSELt from the machine's PyTorch venv when it has
# one), then run `strassentile bench`. Logs, bench.json and bench.md go to OUT_DIR.
#   [BENCH_ARGS="--reps 30"] benchmarks/run_bench_device.sh OUT_DIR
# libzip and pkg-config (needed by strassentile_core) come from the machine when it has them, else from .deb
# files in .devdeps/ (apt-get download libzip-dev libzip4 pkgconf pkgconf-bin libpkgconf3).
set -uo pipefail
out=${1:?usage: run_bench_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
py=${PYTHON:-python3}
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.used --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
  date -u
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

# cuSPARSELt: the nvidia-cusparselt wheel in PyTorch's venv (header, libcusparseLt.so.0); its cusparse.h
# include comes from the toolkit or the nvidia-cusparse wheel.
site=$($py -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null)
slt_h=$(ls "$site"/nvidia/cusparselt/include/cusparseLt.h 2>/dev/null || find /usr /opt -name cusparseLt.h 2>/dev/null | head -1)
if [ -n "$slt_h" ]; then
  slt_root=$(dirname "$(dirname "$slt_h")")
  sp_h=$(ls "$cuda_root"/include/cusparse.h "$cuda_root"/targets/*/include/cusparse.h "$site"/nvidia/cu13/include/cusparse.h \
         2>/dev/null | head -1)
  [ -n "$sp_h" ] || sp_h=$(find /usr /opt -name cusparse.h 2>/dev/null | head -1)
  echo "cuSPARSELt from $slt_root ($(ls "$slt_root"/lib)); cusparse.h from ${sp_h:-nowhere}" | tee -a "$out/env.log"
  extra+=(-DSTRASSENTILE_CUSPARSELT_ROOT="$slt_root")
  [ -n "$sp_h" ] && extra+=(-DSTRASSENTILE_CUSPARSE_INCLUDE_DIR="$(dirname "$sp_h")")
  export LD_LIBRARY_PATH=$slt_root/lib:${LD_LIBRARY_PATH:-}
else
  echo "no cuSPARSELt found: 2:4 will be reported as not measured" | tee -a "$out/env.log"
fi
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

build=build-bench
start=$(date +%s)
cmake -S . -B $build "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSTRASSENTILE_WITH_CUDA=ON \
  -DSTRASSENTILE_BUILD_TESTS=OFF -DSTRASSENTILE_BUILD_APPS=ON -DSTRASSENTILE_CUDA_TESTS=OFF \
  -DSTRASSENTILE_CUDA_BENCHMARKS=OFF -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" "${extra[@]}" >"$out/build.log" 2>&1 &&
  cmake --build $build -j "$(nproc)" --target strassentile >>"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "build ok in $(($(date +%s) - start)) s"; grep -E "strassentile bench:" "$out/build.log"

# shellcheck disable=SC2086  # BENCH_ARGS is a list of options
timeout "${BENCH_TIMEOUT:-480}" $build/strassentile bench --json "$out/bench.json" --markdown "$out/bench.md" \
  ${BENCH_ARGS:-} 2>&1 | tee "$out/bench.log"
echo "bench exit ${PIPESTATUS[0]}"
nvidia-smi --query-gpu=clocks.sm,temperature.gpu,memory.used --format=csv | tee -a "$out/env.log"
