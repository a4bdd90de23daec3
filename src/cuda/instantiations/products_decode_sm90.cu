// The fused products + decode kernel for the (a, c) pairs with a·c <= 4 among the library's tile families: <2,b,2>,
// <1,b,4>, <4,b,1>, <1,b,2>, <2,b,1>. Compiled for sm_90a only (src/cuda/CMakeLists.txt).
#include "kernels/products_decode_sm90.cuh"

namespace strassentile::cuda::detail {

#define STRASSENTILE_INSTANTIATE_PRODUCTS_DECODE(A, C)                                                           \
  template void launch_products_decode_sm90<A, C>(const ProductsDecodeArgs&, const void*, ConstProductTensor, \
                                                  cudaStream_t)
STRASSENTILE_INSTANTIATE_PRODUCTS_DECODE(2, 2);
STRASSENTILE_INSTANTIATE_PRODUCTS_DECODE(1, 4);
STRASSENTILE_INSTANTIATE_PRODUCTS_DECODE(4, 1);
STRASSENTILE_INSTANTIATE_PRODUCTS_DECODE(1, 2);
STRASSENTILE_INSTANTIATE_PRODUCTS_DECODE(2, 1);

}  // namespace strassentile::cuda::detail
