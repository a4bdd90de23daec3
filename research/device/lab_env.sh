# Sourced by the research/device/run_*_device.sh scripts on a GPU machine, from the repository root, after they set
# `out` (their log folder). scripts/gpu-env.sh supplies `py`, nvcc on PATH and `extra` (cmake flags for what the
# machine lacks: .devdeps packages, cuBLAS, cuSPARSELt); TORCH_CUDA_ARCH_LIST defaults to 9.0 (torch's CMake
# compiles every .cu for it).
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
source scripts/gpu-env.sh

# build_lab BUILD_DIR TARGET...: the `cuda` preset (Release, CUDA kernels, the lab) against the machine's PyTorch,
# only the named targets (log in $out/build.log); exits the script on failure. Every core builds: the run scripts
# export OMP_NUM_THREADS=1 for training, which nproc would otherwise obey (a 9-minute one-job build).
build_lab() {
  local build=$1 start
  shift
  start=$(date +%s)
  cmake --preset cuda -B "$build" -DPython_EXECUTABLE="$py" "${extra[@]}" >"$out/build.log" 2>&1 &&
    cmake --build "$build" -j "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" --target "$@" >>"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
  echo "build ok in $(($(date +%s) - start)) s"
}
