# Sourced (not run) by the benchmarks/run_*_device.sh scripts on a GPU machine, from the repository root, after
# they set `out` (their log folder). Debian packages the machine may lack come from .devdeps/ (apt-get download
# libzip-dev libzip4 pkgconf pkgconf-bin libpkgconf3 libgtest-dev zlib1g-dev): libzip and pkg-config for
# strassentile_core, GoogleTest, and zlib (tests/cpp and the training programs).
# Sets: py (PYTHON or python3), nvcc on PATH, TORCH_CUDA_ARCH_LIST (default 9.0; torch's CMake replaces
# CMAKE_CUDA_ARCHITECTURES by it), PATH/PKG_CONFIG_PATH/LD_LIBRARY_PATH for the unpacked packages when needed,
# `extra` (an array of cmake flags locating GoogleTest and zlib) and `torch_prefix` (empty without torch).
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
py=${PYTHON:-python3}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
deps=/tmp/strassentile-deps
mkdir -p "$deps"
for f in .devdeps/*.deb; do dpkg -x "$f" "$deps"; done
extra=()
if ! pkg-config --exists libzip 2>/dev/null; then
  sed -i "s|^prefix=.*|prefix=$deps/usr|" "$deps/usr/lib/x86_64-linux-gnu/pkgconfig/libzip.pc"
  export PATH=$deps/usr/bin:$PATH PKG_CONFIG_PATH=$deps/usr/lib/x86_64-linux-gnu/pkgconfig
  export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  echo "libzip/pkg-config from .devdeps" | tee -a "$out/env.log"
fi
extra+=(-DGTest_DIR="$deps/usr/lib/x86_64-linux-gnu/cmake/GTest")
if [ ! -f /usr/include/zlib.h ]; then
  extra+=(-DZLIB_INCLUDE_DIR="$deps/usr/include" -DZLIB_LIBRARY="$deps/usr/lib/x86_64-linux-gnu/libz.a")
  echo "zlib from .devdeps" | tee -a "$out/env.log"
fi
torch_prefix=$($py -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)

# build_op_library BUILD_DIR: libstrassentile_torch.so with the CUDA kernels, against the machine's PyTorch (log in
# $out/build.log); exits the script on failure.
build_op_library() {
  local build=$1 start
  start=$(date +%s)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRASSENTILE_WITH_TORCH=ON -DSTRASSENTILE_WITH_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_PREFIX_PATH="$torch_prefix" -DSTRASSENTILE_BUILD_APPS=OFF \
    -DSTRASSENTILE_BUILD_TESTS=OFF -DSTRASSENTILE_CUDA_BENCHMARKS=OFF "${extra[@]}" >"$out/build.log" 2>&1 &&
    cmake --build "$build" -j 16 --target strassentile_torch >>"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
  echo "build ok in $(($(date +%s) - start)) s"
}
