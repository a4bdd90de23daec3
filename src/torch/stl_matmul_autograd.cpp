// The Autograd-key kernel of strassentile::stl_matmul: a C++ autograd::Function whose backward calls
// strassentile::stl_matmul_backward through the dispatcher, so each backend supplies its own. Under
// set_keep_for_backward (backward_switches.hpp) the CUDA forward keeps its X̂ and Z for the backward
// (stl_matmul_keep / stl_matmul_backward_kept).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "backward_switches.hpp"
#include "stl_matmul_kernels.hpp"

namespace strassentile::torch_ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Keeping applies to real CUDA tensors in eager mode only: under FakeTensor / functionalization (torch.compile,
// meta tracing) the plain ops run, so that traced graphs never depend on the forward's workspace.
bool plain_cuda(const at::Tensor& x) {
  const c10::DispatchKeySet keys = x.key_set();
  return x.is_cuda() && !keys.has(c10::DispatchKey::Python) && !keys.has(c10::DispatchKey::Functionalize);
}

at::OptionalIntArrayRef as_ref(const std::optional<std::vector<int64_t>>& v) {
  return v.has_value() ? at::OptionalIntArrayRef(*v) : at::OptionalIntArrayRef();
}

c10::IValue optional_value(const std::optional<int64_t>& v) { return v.has_value() ? c10::IValue(*v) : c10::IValue(); }
std::optional<int64_t> optional_int(const c10::IValue& v) {
  return v.isNone() ? std::nullopt : std::optional<int64_t>(v.toInt());
}

template <class Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

class StlMatmulFunction : public torch::autograd::Function<StlMatmulFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x,
                            const at::Tensor& dec, std::vector<int64_t> tile, const std::optional<at::Tensor>& bias,
                            std::string mode, std::optional<int64_t> out_features,
                            std::optional<std::vector<int64_t>> levels, std::optional<int64_t> in_features) {
    static auto op = find_op<StlMatmulSignature>("strassentile::stl_matmul");
    const bool has_bias = bias.has_value() && bias->defined();
    ctx->save_for_backward({x, w_hat, enc_x, dec, has_bias ? *bias : at::Tensor()});
    ctx->saved_data["tile"] = tile;
    ctx->saved_data["mode"] = mode;
    ctx->saved_data["out_features"] = optional_value(out_features);
    ctx->saved_data["in_features"] = optional_value(in_features);
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["levels"] = levels.has_value() ? c10::IValue(*levels) : c10::IValue();
    at::AutoDispatchBelowADInplaceOrView guard;
    if ((keep_for_backward() || keep_z_for_backward()) && plain_cuda(x)) {
      static auto keep_op = find_op<StlMatmulKeepSignature>("strassentile::stl_matmul_keep");
      auto [y, kept] = keep_op.call(x, w_hat, enc_x, dec, tile, bias, mode, out_features, as_ref(levels), in_features);
      ctx->saved_data["kept"] = kept;  // X̂ and Z, or Z (a byte tensor); empty where nothing was kept
      return y;
    }
    return op.call(x, w_hat, enc_x, dec, tile, bias, mode, out_features, as_ref(levels), in_features);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    const std::vector<int64_t> tile = ctx->saved_data["tile"].toIntVector();
    const std::string mode = ctx->saved_data["mode"].toStringRef();
    const std::optional<int64_t> out_features = optional_int(ctx->saved_data["out_features"]);
    const std::optional<int64_t> in_features = optional_int(ctx->saved_data["in_features"]);
    const std::optional<at::Tensor> bias = has_bias ? std::optional<at::Tensor>(saved[4]) : std::nullopt;
    const c10::IValue& lv = ctx->saved_data["levels"];
    const std::optional<std::vector<int64_t>> levels =
        lv.isNone() ? std::nullopt : std::optional<std::vector<int64_t>>(lv.toIntVector());
    // Edges are the tensor inputs in order; bias is edge 4 only when present.
    const Needs needs = {ctx->needs_input_grad(0), ctx->needs_input_grad(1), ctx->needs_input_grad(2),
                         ctx->needs_input_grad(3), has_bias && ctx->needs_input_grad(4)};
    Gradients g;
    if (ctx->saved_data.count("kept") != 0) {
      static auto kept_op = find_op<StlMatmulBackwardKeptSignature>("strassentile::stl_matmul_backward_kept");
      g = kept_op.call(grads[0], saved[0], saved[1], saved[2], saved[3], tile, bias, mode, out_features, as_ref(levels),
                       needs, ctx->saved_data["kept"].toTensor(), in_features);
    } else {
      static auto op = find_op<StlMatmulBackwardSignature>("strassentile::stl_matmul_backward");
      g = op.call(grads[0], saved[0], saved[1], saved[2], saved[3], tile, bias, mode, out_features, as_ref(levels), needs,
                  in_features);
    }
    auto& [gx, gw, ge, gd, gb] = g;
    return {gx, gw, ge, gd, at::Tensor(), gb, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// GCC 13 reports -Warray-bounds (or, with that silenced, -Wstringop-overflow) inside std::vector<bool>::reserve,
// inlined from PyTorch's Function::apply (its is-variable flags): a false positive in library code, silenced for
// this function only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
at::Tensor stl_matmul_autograd(const StlArgs& a) {
  const std::optional<std::vector<int64_t>> levels =
      a.levels.has_value() ? std::optional<std::vector<int64_t>>(a.levels->vec()) : std::nullopt;
  return StlMatmulFunction::apply(a.x, a.w_hat, a.enc_x, a.dec, a.tile.vec(), a.bias, std::string(a.mode),
                                  a.out_features, levels, a.in_features);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace

TORCH_LIBRARY_IMPL(strassentile, Autograd, m) { m.impl("stl_matmul", &forward_kernel<&stl_matmul_autograd>); }

}  // namespace strassentile::torch_ops
