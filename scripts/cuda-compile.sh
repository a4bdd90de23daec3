#!/usr/bin/env bash
# cuda-compile.sh: compiles every CUDA source (the CUDA layer, its test, the benchmarks and `strassentile bench`)
# with nvcc for sm_90, without a GPU. cuBLAS and cuSPARSELt headers/libraries come from NVIDIA's pip wheels
# (cached in .cache/), since the machine's CUDA toolkit carries only the compiler and runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || { echo "cuda-compile: nvcc not found (install the CUDA toolkit)" >&2; exit 1; }
libs=.cache/cuda-libs
if [ ! -f "$libs/.ready" ]; then
  mkdir -p .cache/wheels "$libs"
  python3 -m pip download -q --no-deps --only-binary=:all: -d .cache/wheels \
    "nvidia-cublas==13.1.1.3" "nvidia-cusparselt-cu13==0.8.1"
  unzip -q -o .cache/wheels/nvidia_cublas-*.whl 'nvidia/cu13/include/*' 'nvidia/cu13/lib/*' -d "$libs"
  unzip -q -o .cache/wheels/nvidia_cusparselt_cu13-*.whl 'nvidia/cusparselt/*' -d "$libs"
  touch "$libs/.ready"
fi
cublas=$PWD/$libs/nvidia/cu13
cmake -S . -B build-nvcc -G Ninja -DSTRASSENTILE_WITH_CUDA=ON -DSTRASSENTILE_BUILD_TESTS=OFF \
  -DSTRASSENTILE_BUILD_APPS=ON -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCUDA_cublas_LIBRARY="$(ls "$cublas"/lib/libcublas.so.* | head -n 1)" \
  -DCUDA_cublasLt_LIBRARY="$(ls "$cublas"/lib/libcublasLt.so.* | head -n 1)" \
  -DCMAKE_CXX_FLAGS="-isystem $cublas/include" -DCMAKE_CUDA_FLAGS="-isystem $cublas/include" \
  -DSTRASSENTILE_CUSPARSELT_ROOT="$PWD/$libs/nvidia/cusparselt" >/dev/null
cmake --build build-nvcc -j "$(nproc)"
echo "cuda-compile: every .cu target built for sm_90 ($(find build-nvcc -name '*.cu.o' | wc -l) CUDA objects)"
