// Every kernel choice of the CUDA layer: whether the forward's products and decode can run fused; for each encode,
// decode, fused decode → encode, padded copy and column sum, which kernel runs (tensor-core, CUDA-core specialised on
// the tile format, or generic) and for which storage type.
// The public launch_* functions check their parameters and fill in default strides here, then pick.
#include <atomic>
#include <climits>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "check.hpp"
#include "strassentile/cost_model.hpp"
#include "constant_dispatch.hpp"
#include "launchers.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

#ifndef STRASSENTILE_CUDA_SM90A
#define STRASSENTILE_CUDA_SM90A 0  // src/cuda/CMakeLists.txt sets it where the fused kernel is compiled
#endif

namespace strassentile::cuda {
namespace {

using detail::CausalSide;
using detail::CoefLayout;
using detail::with_constant;

// Calls f(std::integral_constant<DType, dtype>{}): the dtype as a template argument of the launcher f calls.
template <class F>
void with_dtype(DType dtype, F&& f) {
  if (!with_constant<DType, DType::f32, DType::f16, DType::bf16>(dtype, f))
    throw std::invalid_argument("unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

// The tensor-core 16-bit types only.
template <class F>
void with_dtype16(DType dtype, F&& f) {
  if (dtype == DType::f16)
    f(std::integral_constant<DType, DType::f16>{});
  else
    f(std::integral_constant<DType, DType::bf16>{});
}

void require(const void* ptr, const char* name) {
  if (ptr == nullptr) throw std::invalid_argument(std::string(name) + " is null");
}

// Whether KernelChoice::automatic takes the tensor-core encode/decode where it applies (kernels/codec_mma.cuh).
constexpr bool kTensorCoreCodecDefault = true;

bool wants_tensor_cores(KernelChoice k) {
  return k == KernelChoice::tensor_core || (k == KernelChoice::automatic && kTensorCoreCodecDefault);
}

// Whether the tensor-core encode/decode take these parameters: bf16 or fp16, <4,4> tiles, rank <= 64.
bool tensor_core_codec_applies(DType dtype, int a, int bc, int rank) {
  return (dtype == DType::bf16 || dtype == DType::f16) && a == 4 && bc == 4 && rank >= 1 &&
         rank <= detail::kMmaMaxRank;
}

// Tile sides with CUDA-core kernels (launchers.hpp lists the pairs); a pair above 15 never matches.
constexpr int pair_key(int a, int bc) { return a * 16 + bc; }

// Runs launch<A, BC>() for the specialised (a, b|c) pair, or returns false.
template <class Launch>
bool with_tile_pair(int a, int bc, Launch&& launch) {
  if (a > 15 || bc > 15) return false;
  switch (pair_key(a, bc)) {
    case pair_key(2, 2): launch(std::integral_constant<int, 2>{}, std::integral_constant<int, 2>{}); return true;
    case pair_key(3, 3): launch(std::integral_constant<int, 3>{}, std::integral_constant<int, 3>{}); return true;
    case pair_key(4, 4): launch(std::integral_constant<int, 4>{}, std::integral_constant<int, 4>{}); return true;
    case pair_key(2, 4): launch(std::integral_constant<int, 2>{}, std::integral_constant<int, 4>{}); return true;
    case pair_key(4, 2): launch(std::integral_constant<int, 4>{}, std::integral_constant<int, 2>{}); return true;
    case pair_key(1, 4): launch(std::integral_constant<int, 1>{}, std::integral_constant<int, 4>{}); return true;
    case pair_key(1, 2): launch(std::integral_constant<int, 1>{}, std::integral_constant<int, 2>{}); return true;
    case pair_key(2, 1): launch(std::integral_constant<int, 2>{}, std::integral_constant<int, 1>{}); return true;
    case pair_key(4, 1): launch(std::integral_constant<int, 4>{}, std::integral_constant<int, 1>{}); return true;
    default: return false;
  }
}

// The (a, c) pairs the fused products + decode kernel is built for: the specialised pairs with a·c <= 4.
bool products_decode_pair(int a, int c) {
  return a * c <= detail::kProductsDecodeMaxSlots && with_tile_pair(a, c, [](auto, auto) {});
}

// The current device's compute capability as major·10 + minor, remembered per device.
int current_compute_capability() {
  int device = 0;
  detail::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  static std::atomic<int> known[detail::kMaxCachedDevices];
  if (device < detail::kMaxCachedDevices && known[device].load(std::memory_order_relaxed) != 0)
    return known[device].load(std::memory_order_relaxed);
  int major = 0, minor = 0;
  detail::check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
  detail::check_cuda(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device), "cudaDeviceGetAttribute");
  const int cc = major * 10 + minor;
  if (device < detail::kMaxCachedDevices) known[device].store(cc, std::memory_order_relaxed);
  return cc;
}

// The speed model's constants for the current device (cost_model.hpp's gpu_spec), looked up once per device.
GpuSpec current_gpu_spec() {
  int device = 0;
  detail::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  static std::mutex mutex;
  static std::optional<GpuSpec> known[detail::kMaxCachedDevices];
  const std::lock_guard<std::mutex> lock(mutex);
  if (device < detail::kMaxCachedDevices && known[device]) return *known[device];
  cudaDeviceProp prop{};
  detail::check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  const GpuSpec spec = gpu_spec(prop.name, static_cast<std::size_t>(prop.multiProcessorCount));
  if (device < detail::kMaxCachedDevices) known[device] = spec;
  return spec;
}

// The staged decode needs Z's rows and product strides 16-byte aligned and its slab (the transposed decoder and
// r × kStagedDecodeTiles elements of Z) within 200 KB of shared memory.
bool decode_staged_fits(const DecodeParams& p) {
  const auto e = static_cast<std::int64_t>(dtype_size(p.dtype));
  const StlShape& s = p.shape;
  if (!detail::is_aligned(p.z.data, 16) || (p.z.ld * e) % 16 != 0 || (p.z.stride * e) % 16 != 0) return false;
  const std::size_t smem = (static_cast<std::size_t>(s.rank) * s.a * s.c * sizeof(float) + 15) / 16 * 16 +
                           static_cast<std::size_t>(s.rank) * detail::kStagedDecodeTiles * static_cast<std::size_t>(e);
  return smem <= 200 * 1024;
}

// A coefficient gradient folded into a pass needs a kernel that folds (detail::folds_coef_grad says which).
void require_fold_applies(bool applies) {
  if (!applies) throw std::logic_error("a coefficient gradient fold was asked of a pass whose kernel does not fold");
}

// A gradient folded into a CUDA-core pass (kernels/staged_fold.cuh): 16-bit storage, a specialised tile.
bool staged_fold_applies(DType dtype, KernelChoice kernel, int a, int bc, int rank) {
  return kernel != KernelChoice::generic && (dtype == DType::bf16 || dtype == DType::f16) && rank >= 1 &&
         rank <= detail::kFoldMaxRank && with_tile_pair(a, bc, [](auto, auto) {});
}

// Mode causal (p.causal_levels set) runs on the same kernels as the other modes: the specialised ones read the
// masked coefficients as zeros, and a repair pass recomputes by selection the few tiles whose inputs are not all
// finite (kernels/causal_repair.cuh); the generic ones select by themselves.
void encode_kernel(const EncodeParams& p, CoefLayout enc, CausalSide causal, const detail::CoefGradFold* fold) {
  const StlShape& s = p.shape;
  const auto repair = [&] {
    with_dtype(p.dtype, [&](auto d) { detail::launch_encode_causal_repair<decltype(d)::value>(p, enc, causal); });
  };
  const bool tensor_cores = wants_tensor_cores(p.kernel) && tensor_core_codec_applies(p.dtype, s.a, s.b, s.rank);
  if (fold != nullptr) {
    if (tensor_cores) {
      require_fold_applies(s.rank <= detail::kFoldMaxRank);
      with_dtype16(p.dtype,
                   [&](auto d) { detail::launch_encode_mma_folding<decltype(d)::value>(p, enc, causal, *fold); });
      return repair();
    }
    require_fold_applies(staged_fold_applies(p.dtype, p.kernel, s.a, s.b, s.rank));
    with_dtype16(p.dtype, [&](auto d) {
      with_tile_pair(s.a, s.b, [&](auto a, auto b) {
        detail::launch_encode_staged_folding<decltype(d)::value, decltype(a)::value, decltype(b)::value>(p, enc, causal,
                                                                                                         *fold);
      });
    });
    return repair();
  }
  if (tensor_cores) {
    with_dtype16(p.dtype, [&](auto d) { detail::launch_encode_mma<decltype(d)::value>(p, enc, causal); });
    return repair();
  }
  with_dtype(p.dtype, [&](auto d) {
    constexpr DType D = decltype(d)::value;
    const bool specialised = p.kernel != KernelChoice::generic && with_tile_pair(s.a, s.b, [&](auto a, auto b) {
      detail::launch_encode_tiles<D, decltype(a)::value, decltype(b)::value>(p, enc, causal);
    });
    if (specialised)
      repair();
    else
      detail::launch_encode_generic<D>(p, enc, causal);
  });
}

void decode_kernel(const DecodeParams& p, CoefLayout dec, CausalSide causal, const detail::CoefGradFold* fold) {
  const StlShape& s = p.shape;
  const bool tensor_cores = !p.z_f32 && wants_tensor_cores(p.kernel) &&
                            tensor_core_codec_applies(p.dtype, s.a, s.c, s.rank);
  const auto repair = [&] {
    with_dtype(p.dtype, [&](auto d) { detail::launch_decode_causal_repair<decltype(d)::value>(p, dec, causal); });
  };
  if (fold != nullptr) {
    require_fold_applies(!p.z_f32 && s.rank <= detail::kFoldMaxRank && p.bias == nullptr &&
                         p.activation == Activation::none);
    if (tensor_cores) {
      with_dtype16(p.dtype,
                   [&](auto d) { detail::launch_decode_mma_folding<decltype(d)::value>(p, dec, causal, *fold); });
      return repair();
    }
    require_fold_applies(staged_fold_applies(p.dtype, p.kernel, s.a, s.c, s.rank));
    with_dtype16(p.dtype, [&](auto d) {
      with_tile_pair(s.a, s.c, [&](auto a, auto c) {
        detail::launch_decode_staged_folding<decltype(d)::value, decltype(a)::value, decltype(c)::value>(p, dec, causal,
                                                                                                         *fold);
      });
    });
    return repair();
  }
  if (p.z_f32)  // fp32 Z: the generic kernel only
    return with_dtype(p.dtype,
                      [&](auto d) { detail::launch_decode_generic<decltype(d)::value, DType::f32>(p, dec, causal); });
  if (tensor_cores) {
    with_dtype16(p.dtype, [&](auto d) { detail::launch_decode_mma<decltype(d)::value>(p, dec, causal); });
    return repair();
  }
  with_dtype(p.dtype, [&](auto d) {
    constexpr DType D = decltype(d)::value;
    const bool staged = decode_staged_fits(p);
    const bool specialised = p.kernel != KernelChoice::generic && with_tile_pair(s.a, s.c, [&](auto a, auto c) {
      constexpr int A = decltype(a)::value, C = decltype(c)::value;
      if (staged)
        detail::launch_decode_staged<D, A, C>(p, dec, causal);
      else
        detail::launch_decode_tiles<D, A, C>(p, dec, causal);
    });
    if (specialised)
      repair();
    else
      detail::launch_decode_generic<D, D>(p, dec, causal);
  });
}

}  // namespace

namespace detail {

void encode_with(const EncodeParams& params, CoefLayout enc, CausalSide causal, const CoefGradFold* fold) {
  EncodeParams p = params;
  validate(p.shape);
  dtype_size(p.dtype);  // rejects unknown values
  const StlShape& s = p.shape;
  p.x.ld = resolve_ld(p.x.ld, s.in_features, "x.ld");
  p.x_hat.ld = resolve_ld(p.x_hat.ld, s.k(), "x_hat.ld");
  p.x_hat.stride = resolve_stride(p.x_hat.stride, s.m(), p.x_hat.ld, s.k(), "x_hat.stride");
  if (s.m() == 0 || s.k() == 0) {
    if (fold != nullptr) {  // empty sums
      launch_sum_fold_partials(*fold, 0, s.rank, s.a * s.b, p.stream);
      finish_folded_bias(*fold, 0, p.dtype, p.x.data, p.x.ld, s.rows, s.in_features, p.stream);
    }
    return;
  }
  require(p.x.data, "x");
  require(p.enc_x, "enc_x");
  require(p.x_hat.data, "x_hat");
  encode_kernel(p, enc, causal, fold);
}

void decode_with(const DecodeParams& params, CoefLayout dec, CausalSide causal, const CoefGradFold* fold) {
  DecodeParams p = params;
  validate(p.shape);
  dtype_size(p.dtype);
  const StlShape& s = p.shape;
  p.z.ld = resolve_ld(p.z.ld, s.n(), "z.ld");
  p.z.stride = resolve_stride(p.z.stride, s.m(), p.z.ld, s.n(), "z.stride");
  p.y.ld = resolve_ld(p.y.ld, s.out_features, "y.ld");
  if (s.rows == 0 || s.out_features == 0) {
    if (fold != nullptr) launch_sum_fold_partials(*fold, 0, s.rank, s.a * s.c, p.stream);  // an empty sum
    return;
  }
  require(p.z.data, "z");
  require(p.dec, "dec");
  require(p.y.data, "y");
  decode_kernel(p, dec, causal, fold);
}

void products_decode(int a, int c, const ProductsDecodeArgs& args, const void* x_hat, ConstProductTensor w_hat,
                     cudaStream_t stream) {
#if STRASSENTILE_CUDA_SM90A
  bool launched = false;
  with_tile_pair(a, c, [&](auto ta, auto tc) {
    constexpr int A = decltype(ta)::value, C = decltype(tc)::value;
    if constexpr (A * C <= kProductsDecodeMaxSlots) {
      launch_products_decode_sm90<A, C>(args, x_hat, w_hat, stream);
      launched = true;
    }
  });
  if (launched) return;
#else
  (void)args, (void)x_hat, (void)w_hat, (void)stream;
#endif
  throw std::logic_error("products_decode: no fused kernel for <" + std::to_string(a) + ",·," + std::to_string(c) +
                         "> in this build");
}

void copy_padded(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, std::int64_t rows_dst, std::int64_t cols_dst,
                 const void* src, std::int64_t ld_src, std::int64_t stride_src, std::int64_t rows_src,
                 std::int64_t cols_src, std::int64_t batch, std::size_t esize, cudaStream_t stream) {
  if (esize == 2)
    launch_copy_padded<2>(dst, ld_dst, stride_dst, rows_dst, cols_dst, src, ld_src, stride_src, rows_src, cols_src,
                          batch, stream);
  else if (esize == 4)
    launch_copy_padded<4>(dst, ld_dst, stride_dst, rows_dst, cols_dst, src, ld_src, stride_src, rows_src, cols_src,
                          batch, stream);
  else
    throw std::invalid_argument("copy_padded: element size must be 2 or 4 bytes, got " + std::to_string(esize));
}

void zero_columns(void* ptr, std::int64_t rows, std::int64_t cols, std::int64_t ld, std::size_t esize,
                  cudaStream_t stream) {
  if (esize == 2)
    launch_zero_columns<2>(ptr, rows, cols, ld, stream);
  else if (esize == 4)
    launch_zero_columns<4>(ptr, rows, cols, ld, stream);
  else
    throw std::invalid_argument("zero_columns: element size must be 2 or 4 bytes, got " + std::to_string(esize));
}

void column_sums(DType dtype, const void* y, std::int64_t ld, std::int64_t rows, std::int64_t cols, float* out,
                 void* scratch, cudaStream_t stream) {
  if (cols == 0) return;
  if (rows == 0) {
    check_cuda(cudaMemsetAsync(out, 0, static_cast<std::size_t>(cols) * sizeof(float), stream), "cudaMemsetAsync");
    return;
  }
  if (column_sums_scratch(rows, cols) > 0 && scratch == nullptr)
    throw std::invalid_argument("column_sums: scratch is null but " + std::to_string(column_sums_scratch(rows, cols)) +
                                " bytes are needed");
  with_dtype(dtype, [&](auto d) {
    launch_column_sums<decltype(d)::value>(y, ld, rows, cols, out, static_cast<float*>(scratch), stream);
  });
}

void store_f32(DType dtype, void* dst, std::int64_t ld_dst, std::int64_t stride_dst, const float* src,
               std::int64_t ld_src, std::int64_t stride_src, std::int64_t rows, std::int64_t cols, std::int64_t batch,
               cudaStream_t stream) {
  with_dtype(dtype, [&](auto d) {
    launch_store_f32<decltype(d)::value>(dst, ld_dst, stride_dst, src, ld_src, stride_src, rows, cols, batch, stream);
  });
}

}  // namespace detail

void coefficients_to_f32(float* dst, DType dtype, const void* enc_x, std::int64_t enc_x_count, const void* dec,
                         std::int64_t dec_count, cudaStream_t stream) {
  if (enc_x_count < 0 || dec_count < 0 || (enc_x_count > 0 && enc_x == nullptr) ||
      (dec_count > 0 && dec == nullptr) || (enc_x_count + dec_count > 0 && dst == nullptr))
    throw std::invalid_argument(
        "coefficients_to_f32: counts must be >= 0 and every array of a positive count non-null");
  with_dtype(dtype, [&](auto d) {
    detail::launch_to_f32<decltype(d)::value>(dst, enc_x, enc_x_count, dec, dec_count, stream);
  });
}

void launch_encode(const EncodeParams& params) { detail::encode_with(params, {}); }

void launch_decode(const DecodeParams& params) { detail::decode_with(params, {}); }

namespace detail {

bool folds_coef_grad(DType dtype, KernelChoice kernel, int a, int bc, int rank) {
  const bool tensor_cores =
      wants_tensor_cores(kernel) && tensor_core_codec_applies(dtype, a, bc, rank) && rank <= kFoldMaxRank;
  return tensor_cores || staged_fold_applies(dtype, kernel, a, bc, rank);
}

int fold_slab_tiles(DType dtype, KernelChoice kernel, int a, int bc, int rank) {
  return wants_tensor_cores(kernel) && tensor_core_codec_applies(dtype, a, bc, rank) ? kMmaGroupTiles
                                                                                   : kStagedDecodeTiles;
}

// dZ = decodeᵀ(dY) is the encode of dY's (a,c) tiles with Dᵀ as encoder: enc(p, q) = dec[q, p].
void decode_backward_with(const DecodeBackwardParams& p, const CoefGradFold* fold) {
  validate(p.shape);
  StlShape dy_tiles = p.shape;  // dY's (a,c) tiles as the encode's (a,b) ones
  dy_tiles.in_features = p.shape.out_features;
  dy_tiles.b = p.shape.c;
  encode_with({{dy_tiles, p.dtype, p.stream, p.kernel, p.causal_levels}, p.dy, p.dec, p.dz},
              CoefLayout{1, p.shape.rank}, CausalSide::at_or_above_level, fold);
}

// dX = encodeᵀ(dX̂) is the decode of dX̂ onto X's (a,b) tiles with E_Xᵀ as decoder: dec(q, p) = enc_x[p, q].
void encode_backward_with(const EncodeBackwardParams& p, const CoefGradFold* fold) {
  validate(p.shape);
  StlShape dx_tiles = p.shape;  // dX's (a,b) tiles as the decode's (a,c) ones
  dx_tiles.out_features = p.shape.in_features;
  dx_tiles.c = p.shape.b;
  decode_with(
      {{dx_tiles, p.dtype, p.stream, p.kernel, p.causal_levels}, p.dx_hat, p.enc_x, nullptr, Activation::none, p.dx},
      CoefLayout{1, p.shape.a * p.shape.b}, CausalSide::at_or_below_level, fold);
}

}  // namespace detail

void launch_decode_backward(const DecodeBackwardParams& p) { detail::decode_backward_with(p, nullptr); }

void launch_encode_backward(const EncodeBackwardParams& p) { detail::encode_backward_with(p, nullptr); }

bool mlp_forward_fuses(const StlShape& first, const StlShape& second, DType dtype) {
  const auto tile444 = [](const StlShape& s) { return s.a == 4 && s.b == 4 && s.c == 4; };
  return (dtype == DType::bf16 || dtype == DType::f16) && tile444(first) && tile444(second) && first.rank <= 32 &&
         second.rank <= 32;
}

void launch_decode_encode(const DecodeEncodeParams& p) {
  const auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("launch_decode_encode: " + what);
  };
  const StlShape &a = p.first, &b = p.second;
  validate(a);
  validate(b);
  check(p.dtype == DType::bf16 || p.dtype == DType::f16,
        std::string("dtype must be bf16 or f16 (tensor cores), got ") + dtype_name(p.dtype));
  check(a.a == 4 && a.b == 4 && a.c == 4 && b.a == 4 && b.b == 4 && b.c == 4,
        "both layers must use <4,4,4> tiles; use launch_decode and launch_encode for others");
  check(a.rank <= 32 && b.rank <= 32, "ranks must be at most 32, got " + std::to_string(a.rank) + " and " +
                                          std::to_string(b.rank) + "; use launch_decode and launch_encode");
  check(a.rows == b.rows && a.sequence_length() == b.sequence_length(),
        "the layers must have the same rows and seq_len");
  check(a.out_features == b.in_features, "second.in_features (" + std::to_string(b.in_features) +
                                             ") must equal first.out_features (" + std::to_string(a.out_features) +
                                             ")");
  check(p.z.data != nullptr && p.dec != nullptr && p.enc_x != nullptr && p.x_hat.data != nullptr,
        "z, dec, enc_x and x_hat must not be null");
  // The two halves as launch_decode and launch_encode would see them, strides resolved the same way.
  DecodeParams dp;
  dp.shape = a;
  dp.dtype = p.dtype;
  dp.z.data = p.z.data;
  dp.z.ld = detail::resolve_ld(p.z.ld, a.n(), "z.ld");
  dp.z.stride = detail::resolve_stride(p.z.stride, a.m(), dp.z.ld, a.n(), "z.stride");
  dp.dec = p.dec;
  dp.bias = p.bias;
  dp.activation = p.activation;
  dp.y.data = p.y.data;
  dp.y.ld = detail::resolve_ld(p.y.ld, a.out_features, "y.ld");
  dp.stream = p.stream;
  EncodeParams ep;  // reads its input from shared memory: x stays null
  ep.shape = b;
  ep.dtype = p.dtype;
  ep.x.ld = b.in_features;
  ep.enc_x = p.enc_x;
  ep.x_hat.data = p.x_hat.data;
  ep.x_hat.ld = detail::resolve_ld(p.x_hat.ld, b.k(), "x_hat.ld");
  ep.x_hat.stride = detail::resolve_stride(p.x_hat.stride, b.m(), ep.x_hat.ld, b.k(), "x_hat.stride");
  ep.stream = p.stream;
  with_dtype16(p.dtype, [&](auto d) { detail::launch_decode_encode_mma<decltype(d)::value>(dp, ep); });
}

namespace {

// The fused forward's conditions in order: at the first that fails, fail(why) with `why` a callable that builds the
// message (the speed model's choice, asked on every automatic forward, builds none); else `ok`.
template <class Result, class Fail>
Result first_unmet(const ForwardParams& p, Result ok, Fail&& fail) {
  validate(p.shape);
  const StlShape& s = p.shape;
  if (p.dtype != DType::bf16)
    return fail([&] { return std::string("dtype is ") + dtype_name(p.dtype) + ", not bf16"; });
  if (s.rank > detail::kProductsDecodeMaxRank)
    return fail([&] {
      return "rank " + std::to_string(s.rank) + " is above " + std::to_string(detail::kProductsDecodeMaxRank);
    });
  if (!products_decode_pair(s.a, s.c))
    return fail([&] {
      return "the tile's (a, c) = (" + std::to_string(s.a) + ", " + std::to_string(s.c) +
             ") is not one of (2,2), (1,4), (4,1), (1,2), (2,1)";
    });
  if (s.rows == 0 || s.in_features == 0 || s.out_features == 0)
    return fail([] { return std::string("rows, in_features or out_features is 0"); });
  if (s.m() > INT32_MAX || s.n() > INT32_MAX || detail::round_up(s.k(), 8) > INT32_MAX)
    return fail([] { return std::string("a side of the products is beyond 2^31"); });
  if (p.z_f32) return fail([] { return std::string("z_f32 asks for Z in fp32"); });
  if (p.z_out != nullptr || p.keep_z)
    return fail([] { return std::string("Z is kept for the backward (z_out or keep_z)"); });
  if (p.causal_levels != nullptr) return fail([] { return std::string("mode causal (causal_levels) runs unfused"); });
  if (!STRASSENTILE_CUDA_SM90A)
    return fail([] { return std::string("the library was built without sm_90a code (it needs CUDA 12 or later)"); });
  if (const int cc = current_compute_capability(); cc != 90)
    return fail([cc] { return "the GPU is sm_" + std::to_string(cc) + ", not sm_90 (H100, H200)"; });
  return ok;
}

}  // namespace

std::string fused_forward_unavailable(const ForwardParams& p) {
  return first_unmet(p, std::string(), [](const auto& why) { return why(); });
}

bool fused_forward_chosen(const ForwardParams& p) {
  if (!first_unmet(p, true, [](const auto&) { return false; })) return false;
  const StlShape& s = p.shape;
  return fused_forward_wins(LayerShape{static_cast<std::size_t>(s.rows), static_cast<std::size_t>(s.in_features),
                                       static_cast<std::size_t>(s.out_features)},
                            TileFormat{static_cast<std::size_t>(s.a), static_cast<std::size_t>(s.b),
                                       static_cast<std::size_t>(s.c)},
                            static_cast<std::size_t>(s.rank), current_gpu_spec(), dtype_size(p.dtype), false);
}

}  // namespace strassentile::cuda
