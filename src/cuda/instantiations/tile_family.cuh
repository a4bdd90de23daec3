// The CUDA-core kernels of one tile family for one dtype: the encode over its (a,b) tiles and both decodes over its
// (a,c) tiles. Each family's file lists its dtypes, so that the families compile in parallel.
#pragma once

#include "kernels/decode_staged.cuh"
#include "kernels/staged_fold.cuh"
#include "kernels/decode_tiles.cuh"
#include "kernels/encode_tiles.cuh"

#define STRASSENTILE_INSTANTIATE_TILE_FAMILY(D, A, C)                                    \
  template void launch_encode_tiles<D, A, C>(const EncodeParams&, CoefLayout, CausalSide); \
  template void launch_decode_tiles<D, A, C>(const DecodeParams&, CoefLayout, CausalSide); \
  template void launch_decode_staged<D, A, C>(const DecodeParams&, CoefLayout, CausalSide)

// 16-bit only: the CUDA-core backward passes with a coefficient gradient folded in (dX with dE_X over (A,C) = X's
// tiles, dZ with dD over (A,C) = dY's tiles).
#define STRASSENTILE_INSTANTIATE_STAGED_FOLDING(D, A, C)                                                         \
  template void launch_decode_staged_folding<D, A, C>(const DecodeParams&, CoefLayout, CausalSide,               \
                                                      const CoefGradFold&);                                      \
  template void launch_encode_staged_folding<D, A, C>(const EncodeParams&, CoefLayout, CausalSide, const CoefGradFold&)
