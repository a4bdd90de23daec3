// The fp16 instantiations of the tensor-core <4,4> encode/decode (codec_mma.cuh); bf16's are in
// tile_family_444.cu, which dispatches here.
#include "codec_mma.cuh"

namespace strassentile::cuda::detail {

bool launch_encode_mma_f16(const EncodeParams& p, CoefLayout enc) { return run_encode_mma<__half>(p, enc); }
bool launch_decode_mma_f16(const DecodeParams& p, CoefLayout dec) { return run_decode_mma<__half>(p, dec); }

}  // namespace strassentile::cuda::detail
