// Specialised encode <4,4> and decode <4,4> kernels for the <4,4,4> family (one file per family so
// builds parallelise).
#include "decode_launch.cuh"
#include "encode_kernel.cuh"

namespace strassentile::cuda::detail {

template void launch_encode_fast<4, 4>(const EncodeParams&);
template void launch_decode_fast<4, 4>(const DecodeParams&);

}  // namespace strassentile::cuda::detail
