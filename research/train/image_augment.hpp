// Training-image augmentation: a random crop of the image padded on every side (the standard translation
// augmentation of small-image classification), optionally with a random horizontal flip. One gather per batch, on
// whatever device the images live; the random draws come from a CPU generator the caller seeds, so a run is
// reproducible and a resumed run draws exactly what an uninterrupted one would.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace strassentile::train {

struct AugmentOptions {
  int64_t pad = 0;       // > 0: crop an H×W window at a random offset of the image padded by `pad` pixels
  bool flip = false;     // mirror left-right with probability 1/2
  double fill = 0;       // the padding's value (the normalised value of a black pixel)
  bool enabled() const { return pad > 0 || flip; }
};

// The random choices for `count` images: (count, 3) int64 on the CPU, columns row offset, column offset (both in
// 0..2·pad) and flip (0 or 1).
torch::Tensor draw_augment_choices(const AugmentOptions& options, int64_t count, torch::Generator& generator);

// `images` (B, H, W) with `choices` (B, 3) from draw_augment_choices → (B, H, W) on the images' device.
torch::Tensor augment_images(const torch::Tensor& images, const torch::Tensor& choices, const AugmentOptions& options);

}  // namespace strassentile::train
