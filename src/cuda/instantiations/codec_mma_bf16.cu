// The tensor-core <4,4> encode and decode, and the fused decode → encode between two layers, for bf16 storage.
#include "kernels/codec_mma.cuh"
#include "kernels/decode_encode_mma.cuh"

namespace strassentile::cuda::detail {

template void launch_encode_mma<DType::bf16>(const EncodeParams&, CoefLayout, CausalSide);
template void launch_decode_mma<DType::bf16>(const DecodeParams&, CoefLayout, CausalSide);
template void launch_encode_mma_folding<DType::bf16>(const EncodeParams&, CoefLayout, CausalSide,
                                                     const CoefGradFold&);
template void launch_decode_mma_folding<DType::bf16>(const DecodeParams&, CoefLayout, CausalSide,
                                                     const CoefGradFold&);
template void launch_decode_encode_mma<DType::bf16>(const DecodeParams&, const EncodeParams&);

}  // namespace strassentile::cuda::detail
