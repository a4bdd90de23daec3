// Mode causal's repair of the specialised kernels' tiles with non-finite inputs, for every dtype.
#include "kernels/causal_repair.cuh"

namespace strassentile::cuda::detail {

template void launch_encode_causal_repair<DType::f32>(const EncodeParams&, CoefLayout, CausalSide);
template void launch_encode_causal_repair<DType::f16>(const EncodeParams&, CoefLayout, CausalSide);
template void launch_encode_causal_repair<DType::bf16>(const EncodeParams&, CoefLayout, CausalSide);
template void launch_decode_causal_repair<DType::f32>(const DecodeParams&, CoefLayout, CausalSide);
template void launch_decode_causal_repair<DType::f16>(const DecodeParams&, CoefLayout, CausalSide);
template void launch_decode_causal_repair<DType::bf16>(const DecodeParams&, CoefLayout, CausalSide);

}  // namespace strassentile::cuda::detail
