# Sourced (not run) by the GPU-machine scripts that build the torch-free CUDA layer without PyTorch's CMake
# (run_bench_device.sh, run_codec_device.sh, run_overlap_device.sh), after `out` and `py` are set: finds cuBLAS (the toolkit's, else the
# cu13 wheel's) and cuSPARSELt (the wheel in PyTorch's venv, for 2:4) and appends their cmake flags to `extra`;
# exports LD_LIBRARY_PATH for them.
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

# The rest serves the scripts that build the torch-free CUDA layer in build-codec (run_codec_device.sh,
# run_overlap_device.sh); they define left() (seconds left of their budget) before calling these.

# device_env_log: date, GPU, driver and nvcc into $out/env.log.
device_env_log() {
  {
    date -u
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.used --format=csv
    nvcc --version | tail -2
  } 2>&1 | tee -a "$out/env.log"
}

# build_cuda_layer TARGET...: configures $build (build-codec unless set; Release, sm_90, apps, warnings as errors, the
# flags in `extra`, then BUILD_CUDA_DEFINES added to the CUDA flags) and builds the targets within left() − 60 s (log
# in $out/${BUILD_LOG:-build.log}); exits the script on failure.
build=build-codec
build_cuda_layer() {
  local gen=() log=$out/${BUILD_LOG:-build.log} flags=("${extra[@]}")
  command -v ninja >/dev/null && gen=(-G Ninja)
  [ -n "${BUILD_CUDA_DEFINES:-}" ] && flags+=(-DCMAKE_CUDA_FLAGS="$cuda_flags $BUILD_CUDA_DEFINES")
  timeout $(($(left) - 60)) bash -c "cmake -S . -B $build ${gen[*]} -DCMAKE_BUILD_TYPE=Release -DSTRASSENTILE_WITH_CUDA=ON \
    -DSTRASSENTILE_BUILD_TESTS=OFF -DSTRASSENTILE_BUILD_APPS=ON -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 $(printf '%q ' "${flags[@]}") >$log 2>&1 &&
    cmake --build $build -j $(nproc) --target $* >>$log 2>&1"
  local rc=$?
  echo "build ($build) exit $rc at ${SECONDS}s" | tee -a "$out/env.log"
  [ $rc = 0 ] || { tail -40 "$log"; exit 1; }
}

# cuda_test MAX_SECONDS PATTERN: strassentile_cuda_tests into $out/test.log (at most MAX_SECONDS, and 20 s short of
# the budget), then the log's lines matching PATTERN.
cuda_test() {
  local t=$(($(left) - 20))
  [ $t -gt "$1" ] && t=$1
  timeout $t $build/src/cuda/tests/strassentile_cuda_tests >"$out/test.log" 2>&1
  echo "test exit $? at ${SECONDS}s" | tee -a "$out/env.log"
  grep -E "$2" "$out/test.log" | tail -30
}

# cuda_sanitizer: the same test under compute-sanitizer memcheck (at most 240 s) into $out/sanitizer.log.
cuda_sanitizer() {
  local t=$(($(left) - 20))
  [ $t -gt 240 ] && t=240
  timeout $t compute-sanitizer --tool memcheck --print-limit 20 $build/src/cuda/tests/strassentile_cuda_tests \
    >"$out/sanitizer.log" 2>&1
  echo "sanitizer exit $? at ${SECONDS}s" | tee -a "$out/env.log"
  grep -E "ERROR SUMMARY|passed, " "$out/sanitizer.log" | tail -3
}
