// launch_decode_fast<a,c>: the staged decode where Z's layout allows it, else decode_tiles.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "decode_kernel.cuh"
#include "decode_staged.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

template <class T, int A, int C>
void run_decode_best(const DecodeParams& p, CoefLayout dec) {
  if (!run_decode_staged<T, A, C>(p, dec)) run_decode_tiles<T, A, C>(p, dec);
}

template <int A, int C>
void launch_decode_fast(const DecodeParams& p, CoefLayout dec) {
  switch (p.dtype) {
    case DType::f32:
      return run_decode_best<float, A, C>(p, dec);
    case DType::f16:
      return run_decode_best<__half, A, C>(p, dec);
    case DType::bf16:
      return run_decode_best<__nv_bfloat16, A, C>(p, dec);
  }
}

}  // namespace strassentile::cuda::detail
