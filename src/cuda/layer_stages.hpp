// The stages of one layer's forward (encode → products → decode, or encode → fused products and decode) through its part of a workspace laid out by
// forward_workspace: stl_forward runs them in turn, stl_mlp_forward puts the fused decode → encode between two
// layers' products.
#pragma once

#include <cstdint>

#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda::detail {

class LayerStages {
 public:
  // `base`: the layer's workspace, forward_workspace(shape, dtype, z_f32).bytes, 256-byte aligned; with `z_out`
  // (Z's ForwardWorkspace::z_bytes elsewhere) only its first z_offset bytes.
  LayerStages(const StlShape& shape, DType dtype, bool z_f32, void* base, void* z_out = nullptr);

  const ForwardWorkspace& workspace() const { return ws_; }
  ProductTensor x_hat() const { return {base_, ws_.ld_x_hat, ws_.stride_x_hat}; }
  ProductTensor z() const { return {z_, ws_.ld_z, ws_.stride_z}; }

  // Ŵ as the products read it: the caller's, or (products on sides rounded up to 8) copied into the workspace
  // with zeros around it. Call before products().
  void set_w_hat(ConstProductTensor w_hat, cudaStream_t stream);
  // causal_levels: CodecLaunch::causal_levels (null outside mode causal).
  void encode(ConstTileMatrix x, const float* enc_x, KernelChoice kernel, cudaStream_t stream,
              const int* causal_levels = nullptr) const;
  // Zeros X̂'s padding columns, the padded inner dimension of the products: after whatever wrote X̂ (its
  // encode leaves them alone).
  void zero_x_hat_padding(cudaStream_t stream) const;
  void products(cublasHandle_t cublas, GemmChoice gemm, cudaStream_t stream) const;
  // Products and decode in one kernel (ForwardPath::fused): Ŵ (the caller's, r × k × n) transposed into Z's region,
  // then the kernel reads it and X̂. Call after encode() and zero_x_hat_padding(), instead of set_w_hat(),
  // products() and decode().
  void products_decode(ConstProductTensor w_hat, const float* dec, const void* bias, Activation activation,
                       TileMatrix y, cudaStream_t stream) const;
  void decode(const float* dec, const void* bias, Activation activation, TileMatrix y, KernelChoice kernel,
              cudaStream_t stream, const int* causal_levels = nullptr) const;

 private:
  StlShape shape_;
  DType dtype_;
  bool z_f32_;
  void* base_;
  ForwardWorkspace ws_;
  void* z_;                     // where the products go: the workspace's Z region, or ForwardParams::z_out
  bool padded_;                // products on k and n rounded up to 8
  std::int64_t k_run_, n_run_;  // the products' inner and column sides
  ConstProductTensor w_hat_;
};

}  // namespace strassentile::cuda::detail
