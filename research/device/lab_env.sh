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

# lab_program BUILD PREBUILT BRING_BACK: strassentile-lab in BUILD, unpacked from PREBUILT (a lab-bin.tar.gz an earlier
# call brought back; "" for none) when it runs here, else built; with BRING_BACK=1 a fresh build is packed into
# $out/lab-bin.tar.gz (the binary and the build's shared libraries it loads) when under 15 MiB, so that the next call
# on the same machine image skips the build. LAB_PREBUILT (a lab-bin.tar.gz) overrides PREBUILT: run_side_by_side.sh
# builds once and hands its program to both sweeps.
lab_program() {
  local build=$1 prebuilt=${LAB_PREBUILT:-$2} bring_back=$3 bin=$1/research/train/strassentile-lab
  if [ -n "$prebuilt" ] && [ -f "$prebuilt" ] && mkdir -p "$build" && tar xzf "$prebuilt" -C "$build" &&
     [[ $("$bin" train lm --variants nope 2>&1) == *"unknown kind 'nope'"* ]]; then
    echo "using the strassentile-lab of $prebuilt (no build)" | tee -a "$out/env.log"
    return
  fi
  build_lab "$build" strassentile-lab
  [ "$bring_back" = 1 ] || return 0
  local own_libs
  mapfile -t own_libs < <(ldd "$bin" | awk -v b="$PWD/$build/" 'index($3, b) == 1 {print substr($3, length(b) + 1)}')
  tar czf "$out/lab-bin.tar.gz" -C "$build" research/train/strassentile-lab "${own_libs[@]}"
  if [ "$(stat -c %s "$out/lab-bin.tar.gz")" -gt $((15 * 1024 * 1024)) ]; then
    echo "lab-bin.tar.gz is over 15 MiB: not brought back; the next call builds again"
    rm -f "$out/lab-bin.tar.gz"
  fi
}
