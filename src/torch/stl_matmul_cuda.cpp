// strassentile::stl_matmul and stl_matmul_backward for CUDA tensors, on the torch-free kernels of src/cuda
// (strassentile/cuda/stl_cuda.hpp): tensors are made contiguous and cast to what the kernels take, the
// workspace comes from the caching allocator, and the work goes on the current stream with PyTorch's cuBLAS
// handle (so torch.backends.cuda.matmul.allow_tf32 applies to fp32 as it does to torch.matmul). One-row tiles run as
// their dense equivalent where the speed model predicts it faster (stl_matmul_dense_equivalent.hpp).
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "causal_basis.hpp"
#include "cuda_operands.hpp"
#include "error_message.hpp"
#include "fused_forward_switch.hpp"
#include "backward_switches.hpp"
#include "stl_args.hpp"
#include "stl_matmul_aten.hpp"
#include "stl_matmul_dense_equivalent.hpp"
#include "stl_matmul_kernels.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::torch_ops {
namespace {

namespace sc = strassentile::cuda;

// A layer's operands and x, as the kernels take them.
struct Operands : LayerOperands {
  at::Tensor x;
};

Operands prepare(const StlDims& d, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x,
                 const at::Tensor& dec) {
  Operands o{prepare_layer(d, x.scalar_type(), w_hat, enc_x, dec), at::Tensor()};
  o.x = kernel_input(x, o.shape);
  return o;
}

// What every kernel call (ForwardParams, BackwardParams) takes alike: the operands, and PyTorch's cuBLAS handle,
// stream and GEMM choice.
template <class Params>
void set_operands(Params& p, const Operands& o) {
  p.shape = o.shape;
  p.dtype = o.dtype;
  p.x.data = o.x.data_ptr();
  p.w_hat.data = o.w_hat.data_ptr();
  p.enc_x = o.enc_x.data_ptr<float>();
  p.dec = o.dec.data_ptr<float>();
  p.causal_levels = o.causal_levels.defined() ? o.causal_levels.data_ptr<int>() : nullptr;
  p.cublas = at::cuda::getCurrentCUDABlasHandle();
  p.stream = c10::cuda::getCurrentCUDAStream().stream();
  p.gemm = gemm_choice();
}

// set_fused_forward's policy as the kernels' path: "auto" leaves the choice to the speed model.
sc::ForwardPath forward_path(const sc::ForwardParams& p) {
  switch (fused_forward_setting()) {
    case PathPolicy::Never:
      return sc::ForwardPath::unfused;
    case PathPolicy::Always:
      return sc::fused_forward_unavailable(p).empty() ? sc::ForwardPath::fused : sc::ForwardPath::unfused;
    default:
      return sc::ForwardPath::automatic;
  }
}

// The forward on the kernels; with `kept`, its workspace (X̂ at the start, Z at ForwardWorkspace::z_offset) is
// returned there for stl_matmul_backward_kept instead of going back to the allocator, or, under
// set_keep_z_for_backward alone, only Z: written to a tensor of its own (ForwardParams::z_out) while the workspace
// holding X̂ goes back.
at::Tensor forward_on_kernels(const StlDims& d, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x,
                              const at::Tensor& dec, const std::optional<at::Tensor>& bias, at::Tensor* kept) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Operands o = prepare(d, x, w_hat, enc_x, dec);
  // The decode adds the bias in fp32 after reading it in the storage dtype.
  const at::Tensor b = bias.has_value() && bias->defined() ? bias->to(x.scalar_type()).contiguous() : at::Tensor();
  at::Tensor y = at::empty(output_shape(x, d), x.options());
  run_kernels([&] {
    const sc::ForwardWorkspace ws = sc::forward_workspace(o.shape, o.dtype);
    const bool z_only = kept != nullptr && keep_z_for_backward() && !keep_for_backward();
    const at::Tensor scratch = workspace(z_only ? ws.z_offset : ws.bytes, x);
    const at::Tensor z = z_only ? workspace(ws.z_bytes, x) : at::Tensor();
    sc::ForwardParams p;
    set_operands(p, o);
    p.bias = b.defined() ? b.data_ptr() : nullptr;
    p.y.data = y.data_ptr();
    p.workspace = scratch.data_ptr();
    p.workspace_bytes = static_cast<std::size_t>(scratch.numel());
    p.z_out = z_only ? z.data_ptr() : nullptr;
    p.keep_z = kept != nullptr && !z_only;  // the backward reads Z from the kept workspace
    p.path = forward_path(p);
    sc::stl_forward(p);
    if (kept != nullptr) *kept = z_only ? z : scratch;
  });
  return y;
}

// The speed model of x's GPU, for the choice of the dense equivalent (a guess scaled from the H200 where the GPU is
// neither an H100 nor an H200); asked for only where that choice exists. The STL forward it is weighed against is
// the pipeline alone under set_fused_forward("never").
GpuSpec gpu_of(const at::Tensor& x) {
  const cudaDeviceProp* p = at::cuda::getDeviceProperties(x.device().index());
  GpuSpec spec = gpu_spec(p->name, static_cast<std::size_t>(p->multiProcessorCount));
  spec.fused_forward = spec.fused_forward && fused_forward_setting() != PathPolicy::Never;
  return spec;
}

at::Tensor stl_matmul_cuda(const StlArgs& args) {
  const StlDims d = stl_dims(args);
  if (forward_as_dense(d, args.x, &gpu_of)) return stl_matmul_dense_equivalent(args, d);
  if (use_aten(d)) return stl_matmul_aten(args, d);
  return forward_on_kernels(d, args.x, args.w_hat, args.enc_x, args.dec, args.bias, nullptr);
}

// stl_matmul_cuda that also returns its workspace (X̂ and Z; Z alone when set_keep_z_for_backward is on and
// set_keep_for_backward off), for the backward to skip recomputing them; an empty byte tensor where the ATen
// composition ran (nothing to keep).
std::tuple<at::Tensor, at::Tensor> stl_matmul_keep_cuda(const StlArgs& args) {
  const StlDims d = stl_dims(args);
  if (forward_as_dense(d, args.x, &gpu_of)) return {stl_matmul_dense_equivalent(args, d), nothing_kept(args.x)};
  if (use_aten(d)) return {stl_matmul_aten(args, d), nothing_kept(args.x)};
  at::Tensor kept;
  at::Tensor y = forward_on_kernels(d, args.x, args.w_hat, args.enc_x, args.dec, args.bias, &kept);
  return {y, kept};
}

// kept: undefined or empty (recompute X̂ and Z), or stl_matmul_keep_cuda's second output for the same inputs: the
// whole forward workspace (X̂ and Z) or Z's region alone, told apart by their sizes (the workspace is always larger).
Gradients stl_matmul_backward_cuda(const at::Tensor& grad_y, const StlArgs& args, Needs needs, const at::Tensor& kept) {
  const StlDims d = stl_dims(args);
  if (backward_as_dense(d, args.x, needs, &gpu_of)) return stl_matmul_backward_dense_equivalent(grad_y, args, d, needs);
  if (use_aten(d)) return stl_matmul_backward_aten(grad_y, args, d, needs);
  const at::Tensor &x = args.x, &w_hat = args.w_hat, &enc_x = args.enc_x, &dec = args.dec;
  const std::optional<at::Tensor>& bias = args.bias;
  const c10::cuda::CUDAGuard guard(x.device());
  const Operands o = prepare(d, x, w_hat, enc_x, dec);
  const at::Tensor gy = grad_y.reshape({o.shape.rows, o.shape.out_features}).to(x.scalar_type()).contiguous();
  const bool has_bias = args.has_bias();
  const bool w_f32 = w_hat.scalar_type() == at::kFloat && x.scalar_type() != at::kFloat;
  const auto a = static_cast<int64_t>(d.tile.a), b = static_cast<int64_t>(d.tile.b), c = static_cast<int64_t>(d.tile.c);
  const at::TensorOptions f32 = x.options().dtype(at::kFloat);

  at::Tensor gx, gw, ge, gd, gb;
  if (needs[0]) gx = at::empty({o.shape.rows, o.shape.in_features}, x.options());
  if (needs[1]) gw = at::empty({d.rank, d.k_tiles, d.n_tiles}, w_f32 ? f32 : x.options());
  // dE_X, dD and the bias's gradient side by side in one fp32 buffer: cast to 16-bit parameters in one launch.
  const int64_t ge_n = needs[2] ? d.rank * a * b : 0, gd_n = needs[3] ? a * c * d.rank : 0;
  const int64_t gb_n = needs[4] && has_bias ? static_cast<int64_t>(d.out_features) : 0;
  const auto take_views = [&](const at::Tensor& buffer) {
    if (ge_n > 0) ge = buffer.narrow(0, 0, ge_n).view({d.rank, a * b});
    if (gd_n > 0) gd = buffer.narrow(0, ge_n, gd_n).view({a * c, d.rank});
    if (gb_n > 0) gb = buffer.narrow(0, ge_n + gd_n, gb_n);
  };
  const at::Tensor small = at::empty({ge_n + gd_n + gb_n}, f32);
  take_views(small);
  const sc::BackwardNeeds need{gx.defined(), gw.defined(), ge.defined(), gd.defined(), gb.defined(), w_f32,
                               lean_backward()};
  if (need.x || need.w_hat || need.enc_x || need.dec || need.bias) {
    run_kernels([&] {
      const std::size_t bytes = sc::backward_workspace(o.shape, o.dtype, need);
      const at::Tensor scratch = workspace(bytes, x);
      sc::BackwardParams p;
      set_operands(p, o);
      p.dy.data = gy.data_ptr();
      p.dx.data = ptr_or_null(gx);
      p.dw_hat.data = ptr_or_null(gw);
      p.dw_hat_f32 = w_f32;
      p.lean = need.lean;
      p.d_enc_x = static_cast<float*>(ptr_or_null(ge));
      p.d_dec = static_cast<float*>(ptr_or_null(gd));
      p.d_bias = static_cast<float*>(ptr_or_null(gb));
      p.workspace = scratch.data_ptr();
      p.workspace_bytes = bytes;
      // X̂ and Z (the whole forward workspace), or Z alone, from stl_matmul_keep's forward.
      if (kept.defined() && kept.numel() > 0) {
        const sc::ForwardWorkspace fws = sc::forward_workspace(o.shape, o.dtype);
        const auto kept_bytes = static_cast<std::size_t>(kept.numel());
        STL_CHECK(kept.is_cuda() && kept.scalar_type() == at::kByte && kept.is_contiguous() &&
                      (kept_bytes == fws.bytes || kept_bytes == fws.z_bytes) && kept.device() == x.device(),
                  "strassentile: stl_matmul_backward_kept's kept must be the second output of stl_matmul_keep for "
                  "these inputs (", fws.bytes, " bytes, or ", fws.z_bytes, " with Z alone, on ", x.device(), "), got ",
                  kept.numel(), " bytes of ", kept.scalar_type(), " on ", kept.device());
        auto* base = static_cast<char*>(kept.data_ptr());
        if (kept_bytes == fws.bytes) {
          p.x_hat = {base, fws.ld_x_hat, fws.stride_x_hat};
          p.z = {base + fws.z_offset, fws.ld_z, fws.stride_z};
        } else {
          p.z = {base, fws.ld_z, fws.stride_z};
        }
      }
      sc::stl_backward(p);
    });
  }
  // Gradients in their inputs' dtypes (fp32 results cast down where the parameter is 16-bit).
  if (gx.defined()) gx = gx.view(x.sizes());
  if (gw.defined()) gw = gw.to(w_hat.scalar_type());
  // Where E_X, D and the bias share a 16-bit dtype (outside mode causal), the three gradients are views of one cast.
  const at::ScalarType small_type = enc_x.scalar_type();
  const bool one_cast = small.numel() > 0 && d.mode != Mode::Causal && small_type != at::kFloat &&
                        dec.scalar_type() == small_type && (!gb.defined() || bias->scalar_type() == small_type);
  if (one_cast) {
    take_views(small.to(small_type));
    return {gx, gw, ge, gd, gb};
  }
  // The kernels' d_enc_x and d_dec are the full products; the masked entries never reached the output, so their
  // gradients are selected to zero (whatever non-finite values the full products hold there).
  if (ge.defined()) ge = causal_enc_x(ge, d).to(enc_x.scalar_type());
  if (gd.defined()) gd = causal_dec(gd, d).to(dec.scalar_type());
  if (gb.defined()) gb = gb.to(bias->scalar_type());
  return {gx, gw, ge, gd, gb};
}

}  // namespace

// The kernels of src/cuda (encode/decode kernels, cuBLAS batched products); stl_mlp_cuda.cpp adds stl_mlp_inference.
TORCH_LIBRARY_IMPL(strassentile, CUDA, m) {
  m.impl("stl_matmul", &forward_kernel<&stl_matmul_cuda>);
  m.impl("stl_matmul_backward", &backward_kernel<&stl_matmul_backward_cuda>);
  m.impl("stl_matmul_keep", &forward_kernel<&stl_matmul_keep_cuda>);
  m.impl("stl_matmul_backward_kept", &backward_kept_kernel<&stl_matmul_backward_cuda>);
}

}  // namespace strassentile::torch_ops
