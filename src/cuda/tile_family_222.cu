// Specialised encode <2,2> and decode <2,2> kernels for the <2,2,2> family (one file per family so
// builds parallelise).
// The backward pass runs the same kernels with transposed coefficients (launchers.hpp).
#include "decode_launch.cuh"
#include "encode_kernel.cuh"

namespace strassentile::cuda::detail {

template void launch_encode_fast<2, 2>(const EncodeParams&, CoefLayout);
template void launch_decode_fast<2, 2>(const DecodeParams&, CoefLayout);

}  // namespace strassentile::cuda::detail
