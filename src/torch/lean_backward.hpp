// strassentile::set_lean_backward: whether the CUDA backward runs its rows in blocks to bound its scratch
// (cuda::BackwardParams::lean): a training step's peak near 1.5× a dense layer's instead of about 2.1× (<4,4,4>,
// r = 24), for about a tenth more backward time at 16384×4096×4096. Off by default; process-wide.
#pragma once

namespace strassentile::torch_ops {

bool lean_backward();

}  // namespace strassentile::torch_ops
