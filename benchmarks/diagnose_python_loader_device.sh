#!/usr/bin/env bash
# On the GPU machine: builds the op library (CPU kernels are enough) against the device's CUDA torch and loads
# the catalogue from Python, recording which library each zlib symbol binds to (LD_DEBUG=bindings): a crash
# seen there inside the .npz read is suspected to come from libzip binding to another library's zlib.
set -uo pipefail
out=${1:?usage: diagnose_python_loader_device.sh OUT_DIR}
cd "$(dirname "$0")/.."
deps=/tmp/strassentile-deps; mkdir -p "$deps"
for f in .devdeps/*.deb; do dpkg -x "$f" "$deps"; done
sed -i "s|^prefix=.*|prefix=$deps/usr|" "$deps/usr/lib/x86_64-linux-gnu/pkgconfig/libzip.pc"
export PATH=$deps/usr/bin:$PATH PKG_CONFIG_PATH=$deps/usr/lib/x86_64-linux-gnu/pkgconfig
export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
tp=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S . -B build-diag-torch -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRASSENTILE_WITH_TORCH=ON \
  -DSTRASSENTILE_BUILD_TESTS=OFF -DSTRASSENTILE_BUILD_APPS=OFF -DCMAKE_PREFIX_PATH="$tp" >"$out/cfg.log" 2>&1 \
  || { tail -30 "$out/cfg.log"; exit 1; }
cmake --build build-diag-torch -j 16 --target strassentile_torch >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
export STRASSENTILE_TORCH_LIB=$PWD/build-diag-torch/lib/libstrassentile_torch.so PYTHONPATH=python
prog='import strassentile as s; s.algorithms.set_data_dir(".devdata"); print("loaded", len(s.algorithms.available()))'
echo "== plain =="; timeout 120 python3 -X faulthandler -c "$prog" 2>&1 | tail -8; echo "exit ${PIPESTATUS[0]}"
echo "== bindings of zlib symbols =="
LD_DEBUG=bindings LD_DEBUG_OUTPUT=$out/bind timeout 120 python3 -c "$prog" >/dev/null 2>&1
grep -hE "symbol \`(zip_[a-z_]*|inflate[A-Za-z0-9_]*|crc32)'" $out/bind.* | sed 's/^ *[0-9]*: *//' | sort | uniq | head -40
echo "== who else defines zip_* =="
for lib in $(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__) + "/lib")')/*.so*; do
  nm -D --defined-only "$lib" 2>/dev/null | grep -qE " T zip_(fread|stat_index|fopen_index|source_buffer_create)$" && echo "defines zip_*: $lib"
done
rm -f $out/bind.*
echo "== native backtrace (cuda-gdb) =="
timeout 180 cuda-gdb -batch -ex run -ex bt -ex "info sharedlibrary" --args python3 -c "$prog" 2>&1 | grep -vE "^\[New Thread|^\[Thread" | grep -E "^#|SIGSEGV|signal|libzip|libstdc|strassentile" | head -40
echo "== with torch imported after the catalogue load =="
timeout 120 python3 -X faulthandler -c 'import torch; torch.ops.load_library("'"$STRASSENTILE_TORCH_LIB"'"); torch.ops.strassentile.set_data_dir(".devdata"); print(len(torch.ops.strassentile.available_algorithms()))' 2>&1 | tail -5
