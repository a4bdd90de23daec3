// The CUDA-core kernels of one tile family for one dtype: the encode over its (a,b) tiles and both decodes over its
// (a,c) tiles. Each family's file lists its dtypes, so that the families compile in parallel.
#pragma once

#include "kernels/decode_staged.cuh"
#include "kernels/decode_staged_fold.cuh"
#include "kernels/decode_tiles.cuh"
#include "kernels/encode_tiles.cuh"

#define STRASSENTILE_INSTANTIATE_TILE_FAMILY(D, A, C)                                    \
  template void launch_encode_tiles<D, A, C>(const EncodeParams&, CoefLayout, CausalSide); \
  template void launch_decode_tiles<D, A, C>(const DecodeParams&, CoefLayout, CausalSide); \
  template void launch_decode_staged<D, A, C>(const DecodeParams&, CoefLayout, CausalSide)

// 16-bit only: the staged decode with dE_X folded in (the backward's dX pass over (a,b) = (A,C) tiles).
#define STRASSENTILE_INSTANTIATE_STAGED_FOLDING(D, A, C) \
  template void launch_decode_staged_folding<D, A, C>(const DecodeParams&, CoefLayout, CausalSide, const CoefGradFold&)
