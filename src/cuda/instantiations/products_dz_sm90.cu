// The fused products + dZ pass kernel for the (a, c) pairs of the fused forward: <2,b,2>, <1,b,4>, <4,b,1>,
// <1,b,2>, <2,b,1>. Compiled for sm_90a only (src/cuda/CMakeLists.txt).
#include "kernels/products_dz_sm90.cuh"

namespace strassentile::cuda::detail {

#define STRASSENTILE_INSTANTIATE_PRODUCTS_DZ(A, C) \
  template int launch_products_dz_sm90<A, C>(const ProductsDzArgs&, const void*, const void*, cudaStream_t)
STRASSENTILE_INSTANTIATE_PRODUCTS_DZ(2, 2);
STRASSENTILE_INSTANTIATE_PRODUCTS_DZ(1, 4);
STRASSENTILE_INSTANTIATE_PRODUCTS_DZ(4, 1);
STRASSENTILE_INSTANTIATE_PRODUCTS_DZ(1, 2);
STRASSENTILE_INSTANTIATE_PRODUCTS_DZ(2, 1);

}  // namespace strassentile::cuda::detail
