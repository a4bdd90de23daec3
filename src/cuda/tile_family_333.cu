// Specialised encode <3,3> and decode <3,3> kernels for the <3,3,3> family (one file per family so
// builds parallelise).
#include "decode_launch.cuh"
#include "encode_kernel.cuh"

namespace strassentile::cuda::detail {

template void launch_encode_fast<3, 3>(const EncodeParams&);
template void launch_decode_fast<3, 3>(const DecodeParams&);

}  // namespace strassentile::cuda::detail
