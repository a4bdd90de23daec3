# Sourced by scripts/gpu-test.sh (from the repository root, after it sets `out`, its log folder): what a GPU
# machine without network may lack. Sets `py` (unless set: PYTHON, else the checkout's .venv, else python3), puts nvcc on
# PATH, and fills the array `extra` with cmake flags for:
#  - Debian packages from .devdeps/*.deb when the machine lacks them (apt-get download libzip-dev libzip4 pkgconf
#    pkgconf-bin libpkgconf3 libgtest-dev zlib1g-dev libeigen3-dev): libzip, pkg-config and Eigen for the core,
#    GoogleTest, zlib;
#  - cuBLAS from NVIDIA's cu13 wheel when the CUDA toolkit carries only the compiler and runtime;
#  - cuSPARSELt from the torch installation's nvidia-cusparselt wheel (the lab bench's 2:4 baseline, research/benchmarks).
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
if [ -n "${py:-}" ]; then :; elif [ -n "${PYTHON:-}" ]; then py=$PYTHON; elif [ -x .venv/bin/python ]; then py=$PWD/.venv/bin/python; else py=$(command -v python3); fi
extra=()

deps=/tmp/strassentile-deps
# Unpacked once per machine: scripts sourcing this side by side (research/device/run_side_by_side.sh) would otherwise
# rewrite the same files while the other reads them.
if compgen -G ".devdeps/*.deb" >/dev/null && [ ! -f "$deps/.unpacked" ]; then
  mkdir -p "$deps"
  for f in .devdeps/*.deb; do dpkg -x "$f" "$deps"; done
  touch "$deps/.unpacked"
fi
if ! pkg-config --exists libzip 2>/dev/null; then
  sed -i "s|^prefix=.*|prefix=$deps/usr|" "$deps/usr/lib/x86_64-linux-gnu/pkgconfig/libzip.pc"
  export PATH=$deps/usr/bin:$PATH PKG_CONFIG_PATH=$deps/usr/lib/x86_64-linux-gnu/pkgconfig
  export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  echo "libzip/pkg-config from .devdeps" | tee -a "$out/env.log"
fi
if [ ! -f /usr/lib/x86_64-linux-gnu/cmake/GTest/GTestConfig.cmake ] && [ -d "$deps/usr/lib/x86_64-linux-gnu/cmake/GTest" ]; then
  extra+=(-DGTest_DIR="$deps/usr/lib/x86_64-linux-gnu/cmake/GTest")
  echo "GoogleTest from .devdeps" | tee -a "$out/env.log"
fi
if [ ! -f /usr/share/eigen3/cmake/Eigen3Config.cmake ] && [ -d "$deps/usr/share/eigen3/cmake" ]; then
  extra+=(-DEigen3_DIR="$deps/usr/share/eigen3/cmake")
  echo "Eigen from .devdeps" | tee -a "$out/env.log"
fi
if [ ! -f /usr/include/zlib.h ] && [ -f "$deps/usr/include/zlib.h" ]; then
  extra+=(-DZLIB_INCLUDE_DIR="$deps/usr/include" -DZLIB_LIBRARY="$deps/usr/lib/x86_64-linux-gnu/libz.a")
  echo "zlib from .devdeps" | tee -a "$out/env.log"
fi

cuda_root=$(dirname "$(dirname "$(command -v nvcc)")")
if ! compgen -G "$cuda_root/lib64/libcublas.so" >/dev/null && ! compgen -G "$cuda_root/targets/*/lib/libcublas.so" >/dev/null; then
  lib=$(find /usr /opt -name 'libcublas.so.13*' -path '*cu13*' 2>/dev/null | head -1)
  cb=$(dirname "$(dirname "$lib")")
  echo "cuBLAS from $cb" | tee -a "$out/env.log"
  extra+=(-DCUDA_cublas_LIBRARY="$lib" -DCUDA_cublasLt_LIBRARY="$(ls "$cb"/lib/libcublasLt.so.13* | head -1)"
          -DCMAKE_CXX_FLAGS="-isystem $cb/include" -DCMAKE_CUDA_FLAGS="-isystem $cb/include")
  export LD_LIBRARY_PATH=$cb/lib:${LD_LIBRARY_PATH:-}
fi

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
