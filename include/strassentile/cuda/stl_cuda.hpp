// The STL forward and backward passes on the GPU, torch-free: encode X → X̂, r batched products on cuBLAS,
// decode Z → Y; and the gradients of all five inputs (stl_backward).
//
// Index conventions are the reference's (strassentile/reference.hpp): activation tile (i,κ) element (u,v)
// is X[row(i,u), κ·b+v] at q = u·b+v; output tile q = u·c+w; rows are grouped in runs of `a` inside each
// sequence of seq_len rows, each sequence padded on its own. X̂ is r×m×k, Ŵ is r×k×n, Z is r×m×n, each one
// row-major matrix per product (what a strided batched GEMM wants).
//
// Every function here only enqueues work on the given stream and returns; it throws std::invalid_argument
// for bad parameters and std::runtime_error when a CUDA or cuBLAS call fails. Leading dimensions and batch
// strides are in elements; 0 means "contiguous" (the row length, or rows × leading dimension).
//
// The params structs are aggregates (the codec ones with CodecLaunch as their base), and src/cuda fills some of them
// by aggregate initialization (in declaration order): a new field goes at the end of its struct.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace strassentile::cuda {

// Storage type of X, X̂, Ŵ, Z, Y and the bias. Arithmetic is fp32 whatever this is.
enum class DType : int { f32, f16, bf16 };
std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

// Applied after the bias, in fp32. gelu_tanh is 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
enum class Activation : int { none, relu, gelu_tanh };

// automatic: a kernel specialised on the tile format when one is compiled in, else the generic one; for bf16/fp16
// <4,4> tiles with rank <= 64 that is the tensor-core encode/decode (src/cuda/kernels/codec_mma.cuh) when it is the
// compiled-in default (src/cuda/dispatch.cpp, kTensorCoreCodecDefault).
// generic: always the generic kernel (for tests and as a baseline).
// tensor_core: the tensor-core encode/decode where it applies, else as automatic.
// cuda_core: the specialised CUDA-core (FMA) kernels, never the tensor-core ones (baseline and fallback).
enum class KernelChoice : int { automatic, generic, tensor_core, cuda_core };

// How stl_forward runs its products and decode.
// automatic (the default): the fused kernel where it applies (fused_forward_unavailable returns "") and the speed
// model prices it faster than the pipeline on this GPU (fused_forward_chosen): narrow layers, where the pipeline's
// pass over Z costs most beside the products (through STLLinear on an H100, docs/PERFORMANCE.md).
// unfused: encode → batched products on cuBLAS → decode, Z through the workspace.
// fused: encode → products and decode in one kernel (src/cuda/kernels/products_decode_sm90.cuh), Z never in global
// memory; throws std::invalid_argument naming the condition that fails where it does not apply.
enum class ForwardPath : int { automatic, unfused, fused };

// How the batched products (and the backward's GEMMs) pick their cuBLAS kernel.
// tuned: for bf16/fp16 operands, cuBLASLt with the fastest of the algorithms its heuristic offers, timed on the
// first call for each problem and device (a few ms, once; see src/cuda/tuned_gemm.hpp); fp32 and anything
// cuBLASLt refuses take cublas_default.
// cublas_default: cublasGemmStridedBatchedEx with CUBLAS_GEMM_DEFAULT (the handle's own choice; deterministic
// across processes).
enum class GemmChoice : int { tuned, cublas_default };

// Sizes of one STL layer applied to M rows.
struct StlShape {
  std::int64_t rows = 0;          // M
  std::int64_t in_features = 0;   // K
  std::int64_t out_features = 0;  // N
  int a = 0, b = 0, c = 0;        // tile format <a,b,c>
  int rank = 0;                   // r
  std::int64_t seq_len = 0;       // S; 0: all M rows are one sequence. Must divide M.

  std::int64_t sequence_length() const { return seq_len == 0 ? rows : seq_len; }
  std::int64_t tiles_per_sequence() const { return (sequence_length() + a - 1) / a; }
  std::int64_t m() const { return rows == 0 ? 0 : rows / sequence_length() * tiles_per_sequence(); }
  std::int64_t k() const { return (in_features + b - 1) / b; }
  std::int64_t n() const { return (out_features + c - 1) / c; }
};

// Throws std::invalid_argument unless sizes are non-negative, the tile sides and rank >= 1, and seq_len
// divides rows.
void validate(const StlShape& shape);

// The operands. The M×K and M×N side (X, Y, dX, dY) is one row-major matrix; the product side (X̂, Ŵ, Z and their
// gradients) is r row-major m×k, k×n or m×n matrices, one per product. Each pointer travels with its strides; 0
// means contiguous. The mutable ones convert to the const ones, so that one step's output is the next one's input.
struct ConstTileMatrix {
  const void* data = nullptr;
  std::int64_t ld = 0;
};
struct TileMatrix {
  void* data = nullptr;
  std::int64_t ld = 0;
  operator ConstTileMatrix() const { return {data, ld}; }
};
struct ConstProductTensor {
  const void* data = nullptr;
  std::int64_t ld = 0, stride = 0;  // between rows, between products
};
struct ProductTensor {
  void* data = nullptr;
  std::int64_t ld = 0, stride = 0;
  operator ConstProductTensor() const { return {data, ld, stride}; }
};

// What every encode and decode launch names besides its operands: the layer, the storage type, where and how it
// runs. Each params struct below adds "input operand, coefficients, output operand" to it.
struct CodecLaunch {
  StlShape shape;
  DType dtype = DType::bf16;
  cudaStream_t stream = nullptr;
  KernelChoice kernel = KernelChoice::automatic;
  // Mode causal (strassentile/causal.hpp): ℓ(p) for each of shape.rank products, int on the device; null for the
  // other modes. The masks are then applied by selection, not by the coefficients' zeros: the encode's product p
  // reads only tile rows u <= ℓ(p) and the decode's output row u sums only products with ℓ(p) <= u (the
  // transposed forms: dZ[p] reads dY's rows u >= ℓ(p), dX's row u sums products with ℓ(p) >= u). A masked
  // coefficient never meets an input, so a non-finite later row of a tile stays out of its earlier rows (0·Inf
  // would be NaN). Runs the generic kernels.
  const int* causal_levels = nullptr;
};

// X (M×K) → X̂ (r × m × k). enc_x is rank × a·b fp32 on the device; uses shape's rows, in_features, a, b, rank and
// seq_len. Padding rows/columns read as zero.
// Speed: keep X̂'s (and for the decode, Z's) rows 16-byte aligned (ld and stride multiples of 8 elements, as
// forward_workspace does); otherwise the kernels take element-wise paths (<3,3,3> at K = 4096, ld 1366: ~3× slower).
struct EncodeParams : CodecLaunch {
  ConstTileMatrix x;
  const float* enc_x = nullptr;
  ProductTensor x_hat;
};
void launch_encode(const EncodeParams& params);

// Z (r × m × n) → Y (M×N): decode, add bias, apply the activation, crop the padding. dec is a·c × rank
// fp32 on the device; bias has out_features entries of `dtype`, or is null. Uses shape's rows, out_features, a, c,
// rank and seq_len.
struct DecodeParams : CodecLaunch {
  ConstProductTensor z;
  const float* dec = nullptr;
  const void* bias = nullptr;
  Activation activation = Activation::none;
  TileMatrix y;
  // Z is fp32 whatever `dtype` is (Y and the bias stay in `dtype`): exact algorithms decode with cancellation,
  // and a 16-bit Z is what makes them several times less accurate than dense. Runs the generic kernel.
  bool z_f32 = false;
};
void launch_decode(const DecodeParams& params);

// Between two consecutive STL layers, where the first one's output is the second one's input: X̂₂ =
// encode₂(act(decode₁(Z₁) + bias₁)) in one pass over the groups of tiles, so that Y₁ is not written to memory and
// read back (set y to have it written as well, e.g. for a backward pass). Y₁ is rounded to `dtype` before the
// encode, exactly as launch_decode followed by launch_encode would do. Tensor cores only: bf16 or fp16, <4,4,4>
// tiles on both sides, ranks <= 32, the same rows and seq_len; anything else throws std::invalid_argument
// (use launch_decode and launch_encode).
struct DecodeEncodeParams {
  StlShape first;   // the first layer (rows, out_features, tile, rank, seq_len)
  StlShape second;  // the second layer; second.in_features == first.out_features
  DType dtype = DType::bf16;
  ConstProductTensor z;        // the first layer's products, r₁ × m × n₁
  const float* dec = nullptr;  // the first layer's decoder, 16 × r₁
  const void* bias = nullptr;  // the first layer's bias (N₁), optional
  Activation activation = Activation::none;
  TileMatrix y;                  // optional: Y₁ (M × N₁) too
  const float* enc_x = nullptr;  // the second layer's activation encoder, r₂ × 16
  ProductTensor x_hat;           // X̂₂, r₂ × m × k₂
  cudaStream_t stream = nullptr;
};
void launch_decode_encode(const DecodeEncodeParams& params);

// Z[p] = X̂[p] · Ŵ[p] for p < batch: m×k times k×n, row-major, fp32 accumulation. For f32 the handle's math
// mode decides whether TF32 may be used (cuBLAS's default: no). Sets the handle's stream; the handle must be
// in host pointer mode.
struct ProductsParams {
  cublasHandle_t handle = nullptr;
  DType dtype = DType::bf16;
  std::int64_t batch = 0, m = 0, k = 0, n = 0;
  ConstProductTensor x_hat;
  ConstProductTensor w_hat;
  ProductTensor z;
  cudaStream_t stream = nullptr;
  bool z_f32 = false;  // write Z in fp32 (X̂ and Ŵ stay in `dtype`)
  GemmChoice gemm = GemmChoice::tuned;
};
void launch_products(const ProductsParams& params);

// A layer's E_X (enc_x_count entries) and D (dec_count), both stored in `dtype` and contiguous, as fp32 one after the
// other in dst: what the kernels read (ForwardParams::enc_x, dec), converted by one launch on `stream`. For
// parameters kept in 16 bits, where two framework casts per call would cost more host time than a narrow layer's
// decode takes on the GPU.
void coefficients_to_f32(float* dst, DType dtype, const void* enc_x, std::int64_t enc_x_count, const void* dec,
                         std::int64_t dec_count, cudaStream_t stream);

// Where stl_forward keeps X̂ and Z inside its workspace: leading dimensions rounded up to 8 elements and
// offsets to 256 bytes, so that vector accesses and cuBLAS's fast paths apply.
struct ForwardWorkspace {
  std::int64_t ld_x_hat = 0, stride_x_hat = 0;
  std::int64_t ld_z = 0, stride_z = 0;
  std::size_t z_offset = 0;  // bytes from the workspace's start
  // bf16/fp16 products whose sides k or n are not multiples of 8 run on both rounded up to 8 (3–6× faster in
  // cuBLAS at <3,3,3>): X̂'s padding columns are zeroed, and Ŵ is copied here as r × round8(k) × round8(n)
  // (leading dimension ld_w_hat) with zeros around it. w_hat_bytes is 0 where nothing is padded.
  std::int64_t ld_w_hat = 0;
  std::size_t w_hat_offset = 0, w_hat_bytes = 0;
  // Z's region, the last one: z_offset + z_bytes == bytes. The fused forward (ForwardPath) copies Ŵ there instead
  // where Ŵ's rows are not 16-byte aligned (r × k × round8(n)), so for bf16 and rank <= 3 it is at least that large.
  std::size_t z_bytes = 0;
  std::size_t bytes = 0;    // total
};
// z_f32: Z kept in fp32 (ForwardParams::z_f32), twice the bytes for 16-bit dtypes.
ForwardWorkspace forward_workspace(const StlShape& shape, DType dtype, bool z_f32 = false);

// Y = act(STL(X, Ŵ) + bias). w_hat is r × k × n. workspace must hold forward_workspace(...).bytes and be
// 256-byte aligned (cudaMalloc's pointers are).
struct ForwardParams {
  StlShape shape;
  DType dtype = DType::bf16;
  ConstTileMatrix x;
  ConstProductTensor w_hat;
  const float* enc_x = nullptr;
  const float* dec = nullptr;
  const void* bias = nullptr;
  Activation activation = Activation::none;
  TileMatrix y;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
  cublasHandle_t cublas = nullptr;
  cudaStream_t stream = nullptr;
  KernelChoice kernel = KernelChoice::automatic;
  GemmChoice gemm = GemmChoice::tuned;
  // Keep Z in fp32: the products write fp32 from 16-bit X̂ and Ŵ and the decode reads it (generic kernel). For
  // the exact algorithms in 16-bit storage; the workspace must come from forward_workspace(shape, dtype, true).
  bool z_f32 = false;
  // Mode causal: the products' levels, as CodecLaunch::causal_levels; null for the other modes.
  const int* causal_levels = nullptr;
  // Z written here (z_bytes, laid out as ForwardWorkspace's ld_z / stride_z, 256-byte aligned) instead of the
  // workspace, which then needs only forward_workspace(...).z_offset bytes: for a backward that is given Z
  // (BackwardParams::z) while X̂'s memory goes back right after the forward.
  void* z_out = nullptr;
  ForwardPath path = ForwardPath::automatic;
  // The workspace must hold Z (at z_offset) after the call, for a backward that reads it from there: the products
  // and decode then run unfused.
  bool keep_z = false;
};
void stl_forward(const ForwardParams& params);
// "" where stl_forward can run these parameters' products and decode as one kernel (ForwardPath::fused), else the
// first condition that fails, in this order: bf16; rank <= 3; tiles whose (a, c) is (2,2), (1,4), (4,1), (1,2) or
// (2,1); rows, in_features and out_features > 0; Z neither fp32 (z_f32) nor kept (z_out, keep_z); no mode causal;
// a library built with CUDA 12 or later; an sm_90 GPU (H100, H200) as the current device.
std::string fused_forward_unavailable(const ForwardParams& params);
// Whether ForwardPath::automatic runs the fused kernel for these parameters on the current device: where it applies
// and the speed model (strassentile/cost_model.hpp, fused_forward_wins) prices it below the pipeline.
bool fused_forward_chosen(const ForwardParams& params);

// Two consecutive layers with an activation between them, as in a transformer's MLP: Y = STL₂(act(STL₁(X) + bias₁))
// + bias₂. Where launch_decode_encode applies (bf16/fp16, <4,4,4> tiles, ranks <= 32), layer 1's decode, bias and
// activation and layer 2's encode run as that one pass, so the hidden activations Y₁ never go to memory; otherwise
// Y₁ goes through the workspace (stl_forward twice). Either way the result is bit for bit that of stl_forward on
// layer 1 (with the activation) then on layer 2, with the same GEMM choice. Layer 2's bias, no activation.
struct MlpForwardParams {
  StlShape first, second;  // second.in_features == first.out_features; the same rows and seq_len
  DType dtype = DType::bf16;
  ConstTileMatrix x;
  const void* w_hat1 = nullptr;  // r₁ × k₁ × n₁, contiguous
  const float* enc_x1 = nullptr;
  const float* dec1 = nullptr;
  const void* bias1 = nullptr;  // optional
  Activation activation = Activation::gelu_tanh;
  const void* w_hat2 = nullptr;  // r₂ × k₂ × n₂, contiguous
  const float* enc_x2 = nullptr;
  const float* dec2 = nullptr;
  const void* bias2 = nullptr;  // optional
  TileMatrix y;
  void* workspace = nullptr;  // mlp_forward_workspace(first, second, dtype) bytes, 256-byte aligned
  std::size_t workspace_bytes = 0;
  cublasHandle_t cublas = nullptr;
  cudaStream_t stream = nullptr;
  GemmChoice gemm = GemmChoice::tuned;
};
// Whether stl_mlp_forward fuses layer 1's decode with layer 2's encode for these layers.
bool mlp_forward_fuses(const StlShape& first, const StlShape& second, DType dtype);
// Bytes of workspace stl_mlp_forward needs (both layers' X̂ and Z, and Y₁ where the decode → encode is not fused).
std::size_t mlp_forward_workspace(const StlShape& first, const StlShape& second, DType dtype);
void stl_mlp_forward(const MlpForwardParams& params);

// ---- Backward ----

// dZ = decodeᵀ(dY): dZ[p, i, j] = Σ_q dec[q, p] · vec(dY_{ij})[q] over the output's a×c tiles (q = u·c+w),
// r × m × n; dY's padding reads as zero. dec is a·c × rank fp32, as in DecodeParams.
struct DecodeBackwardParams : CodecLaunch {  // uses shape's rows, out_features, a, c, rank, seq_len
  ConstTileMatrix dy;
  const float* dec = nullptr;
  ProductTensor dz;
};
void launch_decode_backward(const DecodeBackwardParams& params);

// dX = encodeᵀ(dX̂): dX[row(i,u), κ·b+v] = Σ_p enc_x[p, u·b+v] · dX̂[p, i, κ], padding cropped. enc_x is
// rank × a·b fp32, as in EncodeParams.
struct EncodeBackwardParams : CodecLaunch {  // uses shape's rows, in_features, a, b, rank, seq_len
  ConstProductTensor dx_hat;
  const float* enc_x = nullptr;
  TileMatrix dx;
};
void launch_encode_backward(const EncodeBackwardParams& params);

// Which gradients stl_backward computes, and how much scratch it may use.
struct BackwardNeeds {
  bool x = false, w_hat = false, enc_x = false, dec = false, bias = false;
  bool dw_hat_f32 = false;  // as BackwardParams::dw_hat_f32 (an fp32 dŴ needs no fp32 room of its own)
  bool lean = false;        // as BackwardParams::lean
  KernelChoice kernel = KernelChoice::automatic;  // as BackwardParams::kernel (whether dD and dE_X need tile copies)
};

// Bytes of scratch stl_backward needs for these gradients (X̂ is recomputed, Z too when dD is wanted).
std::size_t backward_workspace(const StlShape& shape, DType dtype, const BackwardNeeds& needs);

// Gradients of Y = STL(X, Ŵ) + bias for dL/dY (the activation's own derivative is the caller's: pass the
// gradient at its input). Each output pointer may be null (not computed); the workspace must hold
// backward_workspace(...) for the non-null ones. dx (M×K) and dw_hat (r × k × n) are in `dtype` (dw_hat in
// fp32 with dw_hat_f32); d_enc_x (r × a·b), d_dec (a·c × r) and d_bias (N) are fp32, contiguous.
// Steps: X̂ = encode(X); Z = X̂·Ŵ (for dD); dZ = decodeᵀ(dY), dD = tiles(dY)·Zᵀ;
// dŴ[p] = X̂[p]ᵀ·dZ[p]; dX̂[p] = dZ[p]·Ŵ[p]ᵀ; dX = encodeᵀ(dX̂), dE_X = dX̂·tiles(X)ᵀ; d_bias = column sums of dY —
// GEMMs on cuBLAS, the rest in the encode/decode kernels. Where the tensor-core codec kernels apply (bf16/f16, <4,4>
// tiles, r <= 64), dD and dE_X are summed inside the dZ and dX passes; elsewhere from tile copies by GEMMs.
struct BackwardParams {
  StlShape shape;
  DType dtype = DType::bf16;
  ConstTileMatrix dy;  // the incoming gradient, then what the forward read
  ConstTileMatrix x;
  ConstProductTensor w_hat;
  const float* enc_x = nullptr;
  const float* dec = nullptr;
  TileMatrix dx;
  ProductTensor dw_hat;
  bool dw_hat_f32 = false;  // dw_hat in fp32 instead of `dtype` (fp32 master weights, 16-bit activations)
  // Lean: the rows run in as few blocks as keep one block's product-sized scratch within the bytes of X and Y
  // together (about 1.5× a dense layer's training-step peak at <4,4,4>, r = 24, against 2.1× in one block), at
  // the cost of the blocks' extra launches and dŴ summed in fp32 (about 10% of a 16384×4096×4096 backward).
  bool lean = false;
  float* d_enc_x = nullptr;
  float* d_dec = nullptr;
  float* d_bias = nullptr;
  void* workspace = nullptr;  // 256-byte aligned
  std::size_t workspace_bytes = 0;
  cublasHandle_t cublas = nullptr;
  cudaStream_t stream = nullptr;
  KernelChoice kernel = KernelChoice::automatic;
  GemmChoice gemm = GemmChoice::tuned;
  // X̂ and Z as stl_forward left them in its workspace (X̂ at its start, Z at ForwardWorkspace::z_offset, with that
  // struct's leading dimensions and strides), kept alive from the forward so that the backward skips recomputing
  // them: one encode (dŴ, dD) and one batched product (dD) less, for r/(ab)·M·K + r/(ac)·M·N more elements held
  // between the passes. Null: recomputed. Where the products run on padded sides (ForwardWorkspace::w_hat_bytes),
  // X̂'s padding columns must hold zeros, as stl_forward leaves them. Z must be in `dtype` (a forward without
  // z_f32); it is used only unpadded (z.ld = n, z.stride = m·n, i.e. n a multiple of 8 for forward_workspace),
  // which dD's single GEMM over all tile positions needs; otherwise it is recomputed. The workspace size stays
  // backward_workspace(...).
  ConstProductTensor x_hat;
  ConstProductTensor z;
  // Mode causal: the products' levels, as CodecLaunch::causal_levels (every encode and decode of the backward
  // selects by them); null for the other modes. d_enc_x and d_dec are then the full products: the caller zeroes
  // their masked entries (by selection).
  const int* causal_levels = nullptr;
};
void stl_backward(const BackwardParams& params);

}  // namespace strassentile::cuda
