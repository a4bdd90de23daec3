#include "image_augment.hpp"

#include <stdexcept>

namespace strassentile::train {

torch::Tensor draw_augment_choices(const AugmentOptions& o, int64_t count, torch::Generator& generator) {
  if (o.pad < 0) throw std::invalid_argument("--augment-pad must be >= 0, got " + std::to_string(o.pad));
  const auto options = torch::TensorOptions().dtype(torch::kLong);
  const torch::Tensor offsets = torch::randint(0, 2 * o.pad + 1, {count, 2}, generator, options);
  const torch::Tensor flips = o.flip ? torch::randint(0, 2, {count, 1}, generator, options) : torch::zeros({count, 1}, options);
  return torch::cat({offsets, flips}, 1);
}

torch::Tensor augment_images(const torch::Tensor& images, const torch::Tensor& choices, const AugmentOptions& o) {
  TORCH_CHECK(images.dim() == 3 && choices.dim() == 2 && choices.size(0) == images.size(0) && choices.size(1) == 3,
              "augment_images: expected images (B, H, W) and choices (B, 3)");
  const int64_t B = images.size(0), H = images.size(1), W = images.size(2);
  const torch::Tensor c = choices.to(images.device());
  const torch::Tensor padded = torch::constant_pad_nd(images, {o.pad, o.pad, o.pad, o.pad}, o.fill);  // (B, H+2p, W+2p)
  const auto index = torch::TensorOptions().dtype(torch::kLong).device(images.device());
  const torch::Tensor rows = c.select(1, 0).unsqueeze(1) + torch::arange(H, index);  // (B, H)
  const torch::Tensor ascending = torch::arange(W, index);
  const torch::Tensor flipped = c.select(1, 2).unsqueeze(1).to(torch::kBool);         // (B, 1)
  const torch::Tensor cols = c.select(1, 1).unsqueeze(1) + torch::where(flipped, ascending.flip(0), ascending);  // (B, W)
  const torch::Tensor batch = torch::arange(B, index).view({B, 1, 1});
  return padded.index({batch, rows.unsqueeze(2), cols.unsqueeze(1)});
}

}  // namespace strassentile::train
