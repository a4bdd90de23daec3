#include "stl_matmul_autograd.hpp"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>

#include <atomic>

namespace strassentile::torch_ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using ForwardSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef,
                              const std::optional<at::Tensor>&, c10::string_view, std::optional<int64_t>,
                              at::OptionalIntArrayRef);
using BackwardSig = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef,
    const std::optional<at::Tensor>&, c10::string_view, std::optional<int64_t>, at::OptionalIntArrayRef,
    std::array<bool, 5>);
using KeepSig = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                   const at::Tensor&, at::IntArrayRef, const std::optional<at::Tensor>&,
                                                   c10::string_view, std::optional<int64_t>, at::OptionalIntArrayRef);
using BackwardKeptSig = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef,
    const std::optional<at::Tensor>&, c10::string_view, std::optional<int64_t>, at::OptionalIntArrayRef,
    std::array<bool, 5>, const at::Tensor&);

std::atomic<bool> keep_flag{false};

// Keeping applies to real CUDA tensors in eager mode only: under FakeTensor / functionalization (torch.compile,
// meta tracing) the plain ops run, so that traced graphs never depend on the forward's workspace.
bool plain_cuda(const at::Tensor& x) {
  const c10::DispatchKeySet keys = x.key_set();
  return x.is_cuda() && !keys.has(c10::DispatchKey::Python) && !keys.has(c10::DispatchKey::Functionalize);
}

at::OptionalIntArrayRef as_ref(const std::optional<std::vector<int64_t>>& v) {
  return v.has_value() ? at::OptionalIntArrayRef(*v) : at::OptionalIntArrayRef();
}

class StlMatmulFunction : public torch::autograd::Function<StlMatmulFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x,
                            const at::Tensor& dec, std::vector<int64_t> tile, const std::optional<at::Tensor>& bias,
                            std::string mode, std::optional<int64_t> out_features,
                            std::optional<std::vector<int64_t>> levels) {
    static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("strassentile::stl_matmul", "").typed<ForwardSig>();
    const bool has_bias = bias.has_value() && bias->defined();
    ctx->save_for_backward({x, w_hat, enc_x, dec, has_bias ? *bias : at::Tensor()});
    ctx->saved_data["tile"] = tile;
    ctx->saved_data["mode"] = mode;
    ctx->saved_data["out_features"] = out_features.has_value() ? c10::IValue(*out_features) : c10::IValue();
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["levels"] = levels.has_value() ? c10::IValue(*levels) : c10::IValue();
    at::AutoDispatchBelowADInplaceOrView guard;
    if (keep_flag.load(std::memory_order_relaxed) && plain_cuda(x)) {
      static auto keep_op =
          c10::Dispatcher::singleton().findSchemaOrThrow("strassentile::stl_matmul_keep", "").typed<KeepSig>();
      auto [y, kept] = keep_op.call(x, w_hat, enc_x, dec, tile, bias, mode, out_features, as_ref(levels));
      ctx->saved_data["kept"] = kept;  // X̂ and Z (a byte tensor); empty where nothing was kept
      return y;
    }
    return op.call(x, w_hat, enc_x, dec, tile, bias, mode, out_features, as_ref(levels));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static auto op =
        c10::Dispatcher::singleton().findSchemaOrThrow("strassentile::stl_matmul_backward", "").typed<BackwardSig>();
    const variable_list saved = ctx->get_saved_variables();
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    const std::vector<int64_t> tile = ctx->saved_data["tile"].toIntVector();
    const std::string mode = ctx->saved_data["mode"].toStringRef();
    const c10::IValue& nf = ctx->saved_data["out_features"];
    const std::optional<int64_t> out_features = nf.isNone() ? std::nullopt : std::optional<int64_t>(nf.toInt());
    const std::optional<at::Tensor> bias = has_bias ? std::optional<at::Tensor>(saved[4]) : std::nullopt;
    const c10::IValue& lv = ctx->saved_data["levels"];
    const std::optional<std::vector<int64_t>> levels =
        lv.isNone() ? std::nullopt : std::optional<std::vector<int64_t>>(lv.toIntVector());
    // Edges are the tensor inputs in order; bias is edge 4 only when present.
    const std::array<bool, 5> needs = {ctx->needs_input_grad(0), ctx->needs_input_grad(1), ctx->needs_input_grad(2),
                                       ctx->needs_input_grad(3), has_bias && ctx->needs_input_grad(4)};
    if (ctx->saved_data.count("kept") != 0) {
      static auto kept_op = c10::Dispatcher::singleton()
                                .findSchemaOrThrow("strassentile::stl_matmul_backward_kept", "")
                                .typed<BackwardKeptSig>();
      const at::Tensor kept = ctx->saved_data["kept"].toTensor();
      auto [gx, gw, ge, gd, gb] = kept_op.call(grads[0], saved[0], saved[1], saved[2], saved[3], tile, bias, mode,
                                               out_features, as_ref(levels), needs, kept);
      return {gx, gw, ge, gd, at::Tensor(), gb, at::Tensor(), at::Tensor(), at::Tensor()};
    }
    auto [gx, gw, ge, gd, gb] =
        op.call(grads[0], saved[0], saved[1], saved[2], saved[3], tile, bias, mode, out_features, as_ref(levels), needs);
    return {gx, gw, ge, gd, at::Tensor(), gb, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool set_keep_for_backward(bool keep) { return keep_flag.exchange(keep); }

// GCC 13 reports -Warray-bounds (or, with that silenced, -Wstringop-overflow) inside std::vector<bool>::reserve,
// inlined from PyTorch's Function::apply (its is-variable flags): a false positive in library code, silenced for
// this function only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
at::Tensor stl_matmul_autograd(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                               at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode,
                               std::optional<int64_t> out_features, at::OptionalIntArrayRef levels) {
  const std::optional<std::vector<int64_t>> lv =
      levels.has_value() ? std::optional<std::vector<int64_t>>(levels->vec()) : std::nullopt;
  return StlMatmulFunction::apply(x, w_hat, enc_x, dec, tile.vec(), bias, std::string(mode.data(), mode.size()),
                                  out_features, lv);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace strassentile::torch_ops
