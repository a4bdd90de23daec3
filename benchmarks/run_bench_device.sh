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
source benchmarks/cuda_libs_env.sh
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
