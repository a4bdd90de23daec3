// The generic encode and decode, for every dtype (and the decode of an fp32 Z into a 16-bit Y).
#include "kernels/generic.cuh"

namespace strassentile::cuda::detail {

template void launch_encode_generic<DType::f32>(const EncodeParams&, CoefLayout, CausalSide);
template void launch_encode_generic<DType::f16>(const EncodeParams&, CoefLayout, CausalSide);
template void launch_encode_generic<DType::bf16>(const EncodeParams&, CoefLayout, CausalSide);
template void launch_decode_generic<DType::f32, DType::f32>(const DecodeParams&, CoefLayout, CausalSide);
template void launch_decode_generic<DType::f16, DType::f16>(const DecodeParams&, CoefLayout, CausalSide);
template void launch_decode_generic<DType::bf16, DType::bf16>(const DecodeParams&, CoefLayout, CausalSide);
template void launch_decode_generic<DType::f16, DType::f32>(const DecodeParams&, CoefLayout, CausalSide);
template void launch_decode_generic<DType::bf16, DType::f32>(const DecodeParams&, CoefLayout, CausalSide);

}  // namespace strassentile::cuda::detail
