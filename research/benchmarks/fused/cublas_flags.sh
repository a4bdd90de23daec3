# Sourced by the build scripts here: sets cublas_flags (nvcc flags for cuBLAS) given build_dir. cuBLAS is the
# toolkit's own, else the one a CUDA PyTorch installs (pip package nvidia-cublas).
cublas_flags=()
if [[ ! -f "$(dirname "$(command -v nvcc)")/../include/cublas_v2.h" ]]; then
  cublas_root="$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__))' 2>/dev/null ||
                 python3 -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')"
  cublas_flags=(-I"$cublas_root/include" -L"$cublas_root/lib" -Xlinker -rpath="$cublas_root/lib")
  if [[ ! -f "$cublas_root/lib/libcublas.so" ]]; then
    ln -sf "$(ls "$cublas_root"/lib/libcublas.so.* | head -1)" "$build_dir/libcublas.so"
  fi
  cublas_flags+=(-L"$build_dir")
fi
