#include "baselines/baseline_linear.hpp"
#include "error_message.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "strassentile/cost_model.hpp"
#include "strassentile/tile_format.hpp"
#include "strassentile/torch/stl_linear.hpp"

namespace strassentile {

// ---- 2:4 ----

torch::Tensor sparse24_mask(const torch::Tensor& weight) {
  STL_CHECK(weight.dim() >= 1 && weight.size(-1) % 4 == 0,
            "sparse24_mask: the last dimension (in_features) must be a multiple of 4, got shape ", weight.sizes());
  torch::NoGradGuard no_grad;
  std::vector<int64_t> groups(weight.sizes().begin(), weight.sizes().end());
  groups.back() /= 4;
  groups.push_back(4);
  // Entry i of a group is kept when fewer than 2 of the other three beat it (larger, or equal and earlier): a few
  // elementwise passes. torch's CUDA topk would run one thread block per 4-entry slice, millions of them per
  // weight, and SR-STE recomputes the mask every step.
  const std::vector<torch::Tensor> magnitude = weight.detach().abs().reshape(groups).unbind(-1);
  std::vector<torch::Tensor> keep;
  for (std::size_t i = 0; i < 4; ++i) {
    torch::Tensor beaten_by = torch::zeros_like(magnitude[i], torch::kUInt8);
    for (std::size_t j = 0; j < 4; ++j)
      if (j != i) beaten_by += j < i ? magnitude[j] >= magnitude[i] : magnitude[j] > magnitude[i];
    keep.push_back(beaten_by < 2);
  }
  return torch::stack(keep, -1).to(weight.dtype()).reshape(weight.sizes());
}

Sparse24LinearImpl::Sparse24LinearImpl(Sparse24LinearOptions options_) : options(std::move(options_)) { reset(); }

void Sparse24LinearImpl::reset() {
  const int64_t K = options.in_features(), N = options.out_features();
  STL_CHECK(K >= 4 && K % 4 == 0 && N >= 1, "Sparse24Linear: in_features must be a positive multiple of 4 (groups of 4 "
            "inputs) and out_features >= 1, got ", K, " and ", N);
  STL_CHECK(options.update_every() >= 1, "Sparse24Linear: update_every must be >= 1, got ", options.update_every());
  STL_CHECK(options.decay() >= 0 && std::isfinite(options.decay()),
            "Sparse24Linear: decay must be a finite number >= 0 (SR-STE's λ, default 2e-4), got ", options.decay());
  // nn::Linear's default initialisation, then half of the weights pruned. Pruning halves the output variance;
  // the kept weights are scaled by √2 so the layer starts with nn::Linear's output scale.
  const double bound = 1.0 / std::sqrt(static_cast<double>(K));
  torch::Tensor w = torch::empty({N, K}).uniform_(-bound, bound);
  const torch::Tensor m = sparse24_mask(w);
  {
    torch::NoGradGuard no_grad;
    w.mul_(std::sqrt(2.0));
  }
  weight = register_parameter("weight", w);
  mask = register_buffer("mask", m);
  bias = options.bias() ? register_parameter("bias", torch::empty({N}).uniform_(-bound, bound))
                        : register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
  steps = 0;
}

torch::Tensor Sparse24LinearImpl::sparse_weight() const { return weight * mask; }

void Sparse24LinearImpl::update_mask() {
  torch::NoGradGuard no_grad;
  mask.copy_(sparse24_mask(weight));
}

torch::Tensor Sparse24LinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor w;
  if (options.mask_kind() == Sparse24Mask::SrSte) {
    // The mask follows the weights: recomputed on every training forward, and outside training only when the
    // weights changed since (their version counter), so token-by-token decoding does not re-sort every weight per
    // token. Everything below reads it at once, so the buffer's later refreshes cannot change this forward.
    const int64_t version = static_cast<int64_t>(weight._version());
    if (is_training() || version != mask_version) {
      torch::NoGradGuard no_grad;
      mask.copy_(sparse24_mask(weight));
      mask_version = version;
    }
    const torch::Tensor& current = mask;
    // SR-STE (Zhou et al. 2021): the forward multiplies by weight ⊙ mask; the backward sends the straight-through
    // gradient to every weight plus decay·(1 − mask)⊙weight, the sparse-refined term. A hook on this forward's own
    // weight tensor adds the term with this forward's mask, once per use of the layer, whatever else reaches the
    // parameter. (As a torch::autograd::Function, g++ 13 at -O3 reports a false -Warray-bounds in its apply.)
    w = weight + (weight * current - weight).detach();
    if (w.requires_grad()) {
      const torch::Tensor refine = (options.decay() * (1 - current) * weight).detach();
      w.register_hook([refine](const torch::Tensor& grad) { return grad + refine; });
    }
  } else if (options.mask_kind() == Sparse24Mask::Learned && is_training()) {
    if (steps % options.update_every() == 0) update_mask();
    ++steps;
    // Straight-through: the forward multiplies by weight ⊙ mask, the gradient reaches every weight.
    w = weight + (weight * mask - weight).detach();
  } else {
    w = weight * mask;  // pruned weights get no gradient
  }
  return torch::nn::functional::linear(x, w, bias);
}

void Sparse24LinearImpl::pretty_print(std::ostream& stream) const {
  stream << "strassentile::Sparse24Linear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", mask=";
  switch (options.mask_kind()) {
    case Sparse24Mask::Fixed:
      stream << "fixed";
      break;
    case Sparse24Mask::Learned:
      stream << "learned, update_every=" << options.update_every();
      break;
    case Sparse24Mask::SrSte:
      stream << "srste, decay=" << options.decay();
      break;
  }
  stream << ")";
}

// ---- low rank ----

LowRankLinearImpl::LowRankLinearImpl(LowRankLinearOptions options_) : options(std::move(options_)) { reset(); }

void LowRankLinearImpl::reset() {
  const int64_t K = options.in_features(), N = options.out_features(), r = options.rank();
  STL_CHECK(K >= 1 && N >= 1 && r >= 1, "LowRankLinear: in_features, out_features and rank must be >= 1, got ", K, ", ",
            N, ", ", r);
  // V like nn::Linear(K, r) (hidden variance 1/3 for unit inputs); U ~ U(±√(3/r)) so Var(y) = r·(1/r)·(1/3) = 1/3.
  const double bound = 1.0 / std::sqrt(static_cast<double>(K));
  const double up_bound = std::sqrt(3.0 / static_cast<double>(r));
  down = register_parameter("down", torch::empty({r, K}).uniform_(-bound, bound));
  up = register_parameter("up", torch::empty({N, r}).uniform_(-up_bound, up_bound));
  bias = options.bias() ? register_parameter("bias", torch::empty({N}).uniform_(-bound, bound))
                        : register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
}

torch::Tensor LowRankLinearImpl::forward(const torch::Tensor& x) {
  return torch::nn::functional::linear(torch::nn::functional::linear(x, down), up, bias);
}

void LowRankLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "strassentile::LowRankLinear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", rank=" << options.rank() << ")";
}

int64_t low_rank_matching_flops(int64_t in_features, int64_t out_features, double flops_per_row) {
  STL_CHECK(in_features >= 1 && out_features >= 1 && flops_per_row > 0,
            "low_rank_matching_flops: sizes must be >= 1 and the FLOP budget > 0");
  const double per_rank = 2.0 * static_cast<double>(in_features + out_features);
  return std::max<int64_t>(1, std::llround(flops_per_row / per_rank));
}

// ---- spec ----

namespace {

[[noreturn]] void bad_spec(const std::string& text, const std::string& why) {
  throw std::invalid_argument("linear spec '" + text + "': " + why +
                              " (forms: dense | stl[:tile=4|1x4x4,rank=24,init=random,mode=tile|causal|token-local,basis=1,basis_scale=1,"
                              "basis_lr=1] | "
                              "sparse24[:mask=fixed | mask=learned[,every=10] | mask=srste[,decay=2e-4]] | "
                              "lowrank:rank=R | lowrank:match_rank=24[,match_tile=4] | monarch:blocks=B | "
                              "monarch:match_rank=24[,match_tile=4])");
}

int64_t parse_int(const std::string& text, const std::string& key, const std::string& value, int64_t min) {
  if (value.empty() || value.size() > 12 || value.find_first_not_of("0123456789") != std::string::npos)
    bad_spec(text, key + " must be an integer, got '" + value + "'");
  const int64_t v = std::stoll(value);
  if (v < min) bad_spec(text, key + " must be >= " + std::to_string(min) + ", got " + value);
  return v;
}

// A finite number; > 0 where `positive`, else >= 0.
double parse_number(const std::string& text, const std::string& key, const std::string& value, bool positive,
                    const char* example) {
  double v = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (error != std::errc() || end != value.data() + value.size() || !std::isfinite(v) || v < 0 || (positive && v == 0))
    bad_spec(text, key + " must be a number " + (positive ? "> 0" : ">= 0") + " such as " + example + ", got '" +
                       value + "'");
  return v;
}

// The shortest text that parses back to `v`: the shorter of fixed ("0.5") and scientific ("2e-4") notation.
std::string number_text(double v) {
  char fixed[64], scientific[64];
  const auto f = std::to_chars(fixed, fixed + sizeof fixed, v, std::chars_format::fixed);
  const auto e = std::to_chars(scientific, scientific + sizeof scientific, v, std::chars_format::scientific);
  std::string sci(scientific, e.ptr);
  // to_chars writes the exponent as e-04 / e+00: drop its '+' and leading zeros.
  const std::size_t at = sci.find('e');
  std::string exponent = sci.substr(at + 1);
  const bool negative = exponent[0] == '-';
  exponent.erase(0, exponent[0] == '-' || exponent[0] == '+' ? 1 : 0);
  exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
  sci = sci.substr(0, at + 1) + (negative ? "-" : "") + exponent;
  std::string fix(fixed, f.ptr);
  return fix.size() <= sci.size() ? fix : sci;
}

std::vector<int64_t> parse_tile_value(const std::string& text, const std::string& value) {
  try {
    const TileFormat t = parse_tile_format(value);
    return {static_cast<int64_t>(t.a), static_cast<int64_t>(t.b), static_cast<int64_t>(t.c)};
  } catch (const std::invalid_argument& e) {
    bad_spec(text, e.what());
  }
}

TileFormat tile_of(const std::vector<int64_t>& t) {
  return t.size() == 1 ? TileFormat{static_cast<std::size_t>(t[0]), static_cast<std::size_t>(t[0]),
                                    static_cast<std::size_t>(t[0])}
                       : TileFormat{static_cast<std::size_t>(t.at(0)), static_cast<std::size_t>(t.at(1)),
                                    static_cast<std::size_t>(t.at(2))};
}

std::string tile_text(const std::vector<int64_t>& t) {
  const TileFormat f = tile_of(t);
  return std::to_string(f.a) + "x" + std::to_string(f.b) + "x" + std::to_string(f.c);
}

StlCost stl_layer_cost(const std::vector<int64_t>& tile, int64_t rank, int64_t in, int64_t out, int64_t rows) {
  return stl_cost({static_cast<std::size_t>(rows), static_cast<std::size_t>(in), static_cast<std::size_t>(out)},
                  tile_of(tile), static_cast<std::size_t>(rank));
}

// The rank a low-rank spec gives a layer: explicit, or matched to STL's FLOPs per row over whole tiles.
int64_t low_rank_of(const LinearSpec& spec, int64_t in, int64_t out) {
  if (spec.match_rank == 0) return spec.rank;
  const int64_t a = static_cast<int64_t>(tile_of(spec.match_tile).a);
  const StlCost c = stl_layer_cost(spec.match_tile, spec.match_rank, in, out, a);
  return low_rank_matching_flops(in, out, c.stl_flops() / static_cast<double>(a));
}

// The block count a Monarch spec gives a layer: explicit, or matched to STL's FLOPs per row as low_rank_of does.
int64_t monarch_blocks_of(const LinearSpec& spec, int64_t in, int64_t out) {
  if (spec.match_rank == 0) return spec.blocks;
  const int64_t a = static_cast<int64_t>(tile_of(spec.match_tile).a);
  const StlCost c = stl_layer_cost(spec.match_tile, spec.match_rank, in, out, a);
  return monarch_matching_flops(in, out, c.stl_flops() / static_cast<double>(a));
}

}  // namespace

bool is_stl_basis_parameter(const std::string& name) {
  const auto ends_with = [&name](const std::string& tail) {
    return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  return ends_with("impl.enc_x") || ends_with("impl.dec");
}

LinearSpec LinearSpec::parse(const std::string& text) {
  LinearSpec s;
  const std::size_t colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (kind == "dense")
    s.kind = Kind::Dense;
  else if (kind == "stl")
    s.kind = Kind::Stl;
  else if (kind == "sparse24")
    s.kind = Kind::Sparse24;
  else if (kind == "lowrank")
    s.kind = Kind::LowRank;
  else if (kind == "monarch")
    s.kind = Kind::Monarch;
  else
    bad_spec(text, "unknown kind '" + kind + "'");
  if (s.kind == Kind::LowRank) s.rank = 0;
  if (colon != std::string::npos && rest.empty()) bad_spec(text, "nothing after ':'");
  bool every_given = false, decay_given = false;
  std::size_t start = 0;
  while (start < rest.size()) {
    // Items end at a ',' outside <...>, so tile=<1,4,4> stays one item.
    std::size_t end = start;
    for (int depth = 0; end < rest.size() && (depth > 0 || rest[end] != ','); ++end)
      depth += rest[end] == '<' ? 1 : rest[end] == '>' ? -1 : 0;
    const std::string item = rest.substr(start, end - start);
    start = end + 1;
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) bad_spec(text, "expected key=value, got '" + item + "'");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (value.empty()) bad_spec(text, key + " has no value");
    if (s.kind == Kind::Stl && key == "tile") {
      s.tile = parse_tile_value(text, value);
    } else if (s.kind == Kind::Stl && key == "rank") {
      s.rank = parse_int(text, key, value, 1);
    } else if (s.kind == Kind::Stl && key == "init") {
      s.init = value;
    } else if (s.kind == Kind::Stl && key == "mode") {
      if (value != "tile" && value != "causal" && value != "token-local")
        bad_spec(text, "mode must be 'tile', 'causal' or 'token-local'");
      s.mode = value;
    } else if (s.kind == Kind::Stl && key == "basis") {
      if (value != "0" && value != "1") bad_spec(text, "basis must be 0 or 1");
      s.train_basis = value == "1";
    } else if (s.kind == Kind::Stl && key == "basis_scale") {
      s.basis_scale = parse_number(text, key, value, true, "0.25");
    } else if (s.kind == Kind::Stl && key == "basis_lr") {
      s.basis_lr = parse_number(text, key, value, true, "0.1");
    } else if (s.kind == Kind::Sparse24 && key == "mask") {
      if (value == "fixed")
        s.sparse_mask = Sparse24Mask::Fixed;
      else if (value == "learned")
        s.sparse_mask = Sparse24Mask::Learned;
      else if (value == "srste")
        s.sparse_mask = Sparse24Mask::SrSte;
      else
        bad_spec(text, "mask must be 'fixed', 'learned' or 'srste'");
    } else if (s.kind == Kind::Sparse24 && key == "every") {
      s.update_every = parse_int(text, key, value, 1);
      every_given = true;
    } else if (s.kind == Kind::Sparse24 && key == "decay") {
      s.decay = parse_number(text, key, value, false, "2e-4");
      decay_given = true;
    } else if (s.kind == Kind::LowRank && key == "rank") {
      s.rank = parse_int(text, key, value, 1);
    } else if (s.kind == Kind::LowRank && key == "match_rank") {
      s.match_rank = parse_int(text, key, value, 1);
    } else if (s.kind == Kind::LowRank && key == "match_tile") {
      s.match_tile = parse_tile_value(text, value);
    } else if (s.kind == Kind::Monarch && key == "blocks") {
      s.blocks = parse_int(text, key, value, 1);
    } else if (s.kind == Kind::Monarch && key == "match_rank") {
      s.match_rank = parse_int(text, key, value, 1);
    } else if (s.kind == Kind::Monarch && key == "match_tile") {
      s.match_tile = parse_tile_value(text, value);
    } else {
      bad_spec(text, "unknown key '" + key + "' for " + kind);
    }
  }
  if (s.kind == Kind::LowRank && (s.rank == 0) == (s.match_rank == 0))
    bad_spec(text, "lowrank needs exactly one of rank=R and match_rank=R");
  if (s.kind == Kind::Monarch && (s.blocks == 0) == (s.match_rank == 0))
    bad_spec(text, "monarch needs exactly one of blocks=B and match_rank=R");
  if (every_given && s.sparse_mask != Sparse24Mask::Learned)
    bad_spec(text, "every=N applies to mask=learned only (mask=srste refreshes every forward, mask=fixed never)");
  if (decay_given && s.sparse_mask != Sparse24Mask::SrSte) bad_spec(text, "decay applies to mask=srste only");
  return s;
}

std::string LinearSpec::to_string() const {
  std::ostringstream out;
  switch (kind) {
    case Kind::Dense:
      out << "dense";
      break;
    case Kind::Stl:
      out << "stl:";
      if (tile_text(tile) != "4x4x4") out << "tile=" << tile_text(tile) << ",";
      out << "rank=" << rank << ",init=" << init;
      if (mode != "tile") out << ",mode=" << mode;
      if (!train_basis) out << ",basis=0";
      if (basis_scale != 1) out << ",basis_scale=" << number_text(basis_scale);
      if (basis_lr != 1) out << ",basis_lr=" << number_text(basis_lr);
      break;
    case Kind::Sparse24:
      switch (sparse_mask) {
        case Sparse24Mask::Fixed:
          out << "sparse24:mask=fixed";
          break;
        case Sparse24Mask::Learned:
          out << "sparse24:mask=learned,every=" << update_every;
          break;
        case Sparse24Mask::SrSte:
          out << "sparse24:mask=srste,decay=" << number_text(decay);
          break;
      }
      break;
    case Kind::LowRank:
      out << "lowrank:";
      if (match_rank > 0) {
        out << "match_rank=" << match_rank;
        if (tile_text(match_tile) != "4x4x4") out << ",match_tile=" << tile_text(match_tile);
      } else {
        out << "rank=" << rank;
      }
      break;
    case Kind::Monarch:
      out << "monarch:";
      if (match_rank > 0) {
        out << "match_rank=" << match_rank;
        if (tile_text(match_tile) != "4x4x4") out << ",match_tile=" << tile_text(match_tile);
      } else {
        out << "blocks=" << blocks;
      }
      break;
  }
  return out.str();
}

LinearCost linear_cost(const LinearSpec& spec, int64_t in, int64_t out, int64_t rows_per_sequence) {
  STL_CHECK(in >= 1 && out >= 1 && rows_per_sequence >= 1, "linear_cost: sizes must be >= 1");
  LinearCost c;
  c.dense_flops_per_row = 2.0 * static_cast<double>(in) * static_cast<double>(out);
  c.dense_params = static_cast<double>(in) * static_cast<double>(out);
  switch (spec.kind) {
    case LinearSpec::Kind::Dense:
      c.flops_per_row = c.dense_flops_per_row;
      c.params = c.dense_params;
      break;
    case LinearSpec::Kind::Stl: {
      const StlCost s = stl_layer_cost(spec.tile, spec.rank, in, out, rows_per_sequence);
      const auto rows = static_cast<double>(rows_per_sequence);
      c.flops_per_row = s.stl_flops() / rows;
      c.product_flops_per_row = s.gemm_flops / rows;
      c.params = s.stl_params;
      break;
    }
    case LinearSpec::Kind::Sparse24:
      c.flops_per_row = c.dense_flops_per_row / 2;
      c.params = c.dense_params / 2;
      break;
    case LinearSpec::Kind::LowRank: {
      const auto r = static_cast<double>(low_rank_of(spec, in, out));
      c.flops_per_row = 2.0 * r * static_cast<double>(in + out);
      c.params = r * static_cast<double>(in + out);
      break;
    }
    case LinearSpec::Kind::Monarch: {
      const int64_t blocks = monarch_blocks_of(spec, in, out);
      c.flops_per_row = monarch_flops_per_row(in, out, blocks);
      c.params = monarch_params(in, out, blocks);
      break;
    }
  }
  if (spec.kind != LinearSpec::Kind::Stl) c.product_flops_per_row = c.flops_per_row;
  return c;
}

// ---- factory ----

AnyLinearImpl::AnyLinearImpl(const LinearSpec& spec, int64_t in_features, int64_t out_features, bool bias)
    : spec_(spec), in_features_(in_features), out_features_(out_features) {
  switch (spec.kind) {
    case LinearSpec::Kind::Dense: {
      auto m = register_module("impl", torch::nn::Linear(torch::nn::LinearOptions(in_features, out_features).bias(bias)));
      impl_ = m;
      forward_ = [m](const torch::Tensor& x) mutable { return m->forward(x); };
      break;
    }
    case LinearSpec::Kind::Stl: {
      STLLinearOptions o(in_features, out_features);
      o.bias(bias).tile(spec.tile).rank(spec.rank).init(spec.init).mode(spec.mode).train_basis(spec.train_basis);
      auto m = register_module("impl", STLLinear(o));
      if (spec.basis_scale != 1) {
        torch::NoGradGuard no_grad;
        m->enc_x.mul_(spec.basis_scale);
        m->dec.mul_(spec.basis_scale);
        m->w_hat.div_(spec.basis_scale * spec.basis_scale);
      }
      impl_ = m;
      forward_ = [m](const torch::Tensor& x) mutable { return m->forward(x); };
      forward_step_ = [m](const torch::Tensor& x, STLDecodeCache& cache) mutable { return m->forward_step(x, cache); };
      break;
    }
    case LinearSpec::Kind::Sparse24: {
      Sparse24LinearOptions o(in_features, out_features);
      o.bias(bias).mask_kind(spec.sparse_mask).update_every(spec.update_every).decay(spec.decay);
      auto m = register_module("impl", Sparse24Linear(o));
      impl_ = m;
      forward_ = [m](const torch::Tensor& x) mutable { return m->forward(x); };
      break;
    }
    case LinearSpec::Kind::LowRank: {
      LowRankLinearOptions o(in_features, out_features, low_rank_of(spec, in_features, out_features));
      o.bias(bias);
      auto m = register_module("impl", LowRankLinear(o));
      impl_ = m;
      forward_ = [m](const torch::Tensor& x) mutable { return m->forward(x); };
      break;
    }
    case LinearSpec::Kind::Monarch: {
      MonarchLinearOptions o(in_features, out_features, monarch_blocks_of(spec, in_features, out_features));
      o.bias(bias);
      auto m = register_module("impl", MonarchLinear(o));
      impl_ = m;
      forward_ = [m](const torch::Tensor& x) mutable { return m->forward(x); };
      break;
    }
  }
  if (!forward_step_)
    forward_step_ = [this](const torch::Tensor& x, STLDecodeCache&) { return forward_(x); };  // mixes no tokens
}

void AnyLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "strassentile::AnyLinear(" << in_features_ << "->" << out_features_ << ", " << spec_.to_string() << ")";
}

}  // namespace strassentile
