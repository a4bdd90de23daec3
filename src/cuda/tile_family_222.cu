// Specialised encode <2,2> and decode <2,2> kernels for the <2,2,2> family (one file per family so
// builds parallelise).
#include "decode_launch.cuh"
#include "encode_kernel.cuh"

namespace strassentile::cuda::detail {

template void launch_encode_fast<2, 2>(const EncodeParams&);
template void launch_decode_fast<2, 2>(const DecodeParams&);

}  // namespace strassentile::cuda::detail
