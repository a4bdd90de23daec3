#!/usr/bin/env bash
# On the GPU machine: builds the torch-free core, its tests and the CLI (no torch, no CUDA) against the libzip
# carried in .devdeps/, then loads the catalogue in .devdata/ three ways (CLI, core tests, Python op) and prints
# a native backtrace (cuda-gdb; the machine has no gdb) wherever one crashes. OUT_DIR receives the logs.
set -uo pipefail
out=${1:?usage: diagnose_loader_device.sh OUT_DIR}
cd "$(dirname "$0")/.."
deps=/tmp/strassentile-deps; mkdir -p "$deps"
for f in .devdeps/*.deb; do dpkg -x "$f" "$deps"; done
sed -i "s|^prefix=.*|prefix=$deps/usr|" "$deps/usr/lib/x86_64-linux-gnu/pkgconfig/libzip.pc"
export PATH=$deps/usr/bin:$PATH PKG_CONFIG_PATH=$deps/usr/lib/x86_64-linux-gnu/pkgconfig
export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
ldd_check() { echo "--- ldd $1"; ldd "$1" | grep -E 'zip|libz|gnutls|nettle|bz2|lzma|zstd|not found'; }
cmake -S . -B build-diag -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRASSENTILE_FMM_DIR=$PWD/.devdata \
  -DGTest_DIR="$deps/usr/lib/x86_64-linux-gnu/cmake/GTest" -DZLIB_INCLUDE_DIR="$deps/usr/include" \
  -DZLIB_LIBRARY="$deps/usr/lib/x86_64-linux-gnu/libz.a" >"$out/cfg.log" 2>&1 || { tail -30 "$out/cfg.log"; exit 1; }
cmake --build build-diag -j 16 >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
ldd_check build-diag/strassentile
echo "== CLI verify (npz + sms) =="
timeout 60 build-diag/strassentile verify --data-dir .devdata | tail -2; echo "exit ${PIPESTATUS[0]}"
echo "== core tests =="
timeout 120 build-diag/tests/cpp/strassentile_core_tests 2>&1 | tail -3
echo "== under cuda-gdb if the CLI crashed =="
timeout 120 cuda-gdb -batch -ex run -ex bt --args build-diag/strassentile verify --data-dir .devdata 2>&1 | tail -25
