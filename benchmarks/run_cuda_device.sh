#!/usr/bin/env bash
# On a GPU machine: configure and build the CUDA layer, run its correctness test, the kernel-variant sweep,
# the benchmark, and the test again under compute-sanitizer. Logs and stl_cuda_forward.json go to OUT_DIR.
#   [RUN_BENCH=0] [SANITIZE=0] benchmarks/run_cuda_device.sh OUT_DIR
# libzip and pkg-config (needed by strassentile_core) come from the machine when it has them, else from
# .deb files in .devdeps/ (apt-get download libzip-dev libzip4 pkgconf pkgconf-bin libpkgconf3).
set -uo pipefail
out=${1:?usage: run_cuda_device.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
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
if [ $have_cublas = 0 ]; then
  lib=$(find /usr /opt -name 'libcublas.so.13*' -path '*cu13*' 2>/dev/null | head -1)
  cb=$(dirname "$(dirname "$lib")")
  echo "cuBLAS from $cb" | tee -a "$out/env.log"
  extra+=(-DCUDA_cublas_LIBRARY="$lib" -DCUDA_cublasLt_LIBRARY="$(ls "$cb"/lib/libcublasLt.so.13* | head -1)"
          -DCMAKE_CXX_FLAGS="-isystem $cb/include" -DCMAKE_CUDA_FLAGS="-isystem $cb/include")
  export LD_LIBRARY_PATH=$cb/lib:${LD_LIBRARY_PATH:-}
fi
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

build=build-cuda
cmake -S . -B $build "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSTRASSENTILE_WITH_CUDA=ON \
  -DSTRASSENTILE_BUILD_TESTS=OFF -DSTRASSENTILE_BUILD_APPS=OFF -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" "${extra[@]}" >"$out/build.log" 2>&1 &&
  cmake --build $build -j "$(nproc)" >>"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "build ok"

ctest --test-dir $build/src/cuda -V 2>&1 | tail -n 400 >"$out/test.log"
grep -E "FAIL|passed|worst|  (encode|decode|forward)|tests passed|device:" "$out/test.log" | tail -30

$build/src/cuda/benchmarks/bench_stl_kernels 2>&1 | tee "$out/kernels.log"
if [ "${RUN_BENCH:-1}" = 1 ]; then
  $build/src/cuda/benchmarks/bench_stl_cuda "$out/stl_cuda_forward.json" ${BENCH_ARGS:-} 2>&1 | tee "$out/bench.log"
fi

if command -v compute-sanitizer >/dev/null && [ "${SANITIZE:-1}" = 1 ]; then
  timeout 150 compute-sanitizer --tool memcheck --print-limit 20 $build/src/cuda/tests/strassentile_cuda_tests \
    >"$out/memcheck.log" 2>&1
  echo "memcheck exit $?"; grep -E "ERROR SUMMARY|passed" "$out/memcheck.log" | tail -3
fi
