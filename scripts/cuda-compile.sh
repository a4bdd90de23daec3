#!/usr/bin/env bash
# cuda-compile.sh: compiles every CUDA source with nvcc for sm_90, warnings as errors, without a GPU: the CUDA layer
# (src/cuda), its test (tests/cuda), the library's microbenchmarks (benchmarks/), `strassentile bench`
# (apps/strassentile/bench) and the lab's benchmarks (research/benchmarks, with the cuSPARSELt 2:4 baseline).
# cuBLAS, cuSPARSE (its header, for cusparseLt.h) and cuSPARSELt come from NVIDIA's pip wheels (cached in .cache/),
# since the machine's CUDA toolkit carries only the compiler and runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || { echo "cuda-compile: nvcc not found (install the CUDA toolkit)" >&2; exit 1; }
libs=.cache/cuda-libs
if [ ! -f "$libs/.ready-2" ]; then
  mkdir -p .cache/wheels "$libs"
  python3 -m pip download -q --no-deps --only-binary=:all: -d .cache/wheels \
    "nvidia-cublas==13.1.1.3" "nvidia-cusparse==12.9.4.2" "nvidia-cusparselt-cu13==0.8.1"
  unzip -q -o .cache/wheels/nvidia_cublas-*.whl 'nvidia/cu13/include/*' 'nvidia/cu13/lib/*' -d "$libs"
  unzip -q -o .cache/wheels/nvidia_cusparse-*.whl 'nvidia/cu13/include/*' -d "$libs"
  unzip -q -o .cache/wheels/nvidia_cusparselt_cu13-*.whl 'nvidia/cusparselt/*' -d "$libs"
  touch "$libs/.ready-2"
fi
cublas=$PWD/$libs/nvidia/cu13
build=${CUDA_COMPILE_BUILD_DIR:-build-nvcc}
cmake -S . -B "$build" -G Ninja -DSTRASSENTILE_WITH_CUDA=ON -DSTRASSENTILE_BUILD_TESTS=OFF \
  -DSTRASSENTILE_BUILD_APPS=ON -DSTRASSENTILE_BUILD_RESEARCH=ON -DSTRASSENTILE_CUDA_TESTS=ON \
  -DSTRASSENTILE_CUDA_BENCHMARKS=ON -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCUDA_cublas_LIBRARY="$(ls "$cublas"/lib/libcublas.so.* | head -n 1)" \
  -DCUDA_cublasLt_LIBRARY="$(ls "$cublas"/lib/libcublasLt.so.* | head -n 1)" \
  -DCMAKE_CXX_FLAGS="-isystem $cublas/include" -DCMAKE_CUDA_FLAGS="-isystem $cublas/include" \
  -DSTRASSENTILE_CUSPARSELT_ROOT="$PWD/$libs/nvidia/cusparselt" >/dev/null
cmake --build "$build" -j "$(nproc)"
echo "cuda-compile: every .cu target built for sm_90 ($(find "$build" -name '*.cu.o' | wc -l) CUDA objects)"
