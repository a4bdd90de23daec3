// The process-wide switches of how the CUDA backward runs (all off by default):
//   set_keep_for_backward: the forward keeps its X̂ and Z for the backward (stl_matmul_keep /
//     stl_matmul_backward_kept): one encode (and, for dD, one batched product) less per backward, for 1.5× x plus
//     1.5× y (at <4,4,4>, r = 24) more memory held from forward to backward per layer;
//   set_lean_backward: the backward runs its rows in blocks to bound its scratch (cuda::BackwardParams::lean): a
//     training step's peak near 1.5× a dense layer's instead of about 2.1× (<4,4,4>, r = 24), for about a tenth more
//     backward time at 16384×4096×4096;
//   set_keep_z_for_backward: the forward keeps only Z (set_keep_for_backward, when also on, keeps both): the
//     backward still encodes X again but skips the batched product for dD, for 1.5× y (<4,4,4>, r = 24) more memory
//     held per layer;
// backward_switches() -> (keep, lean, keep_z) reads all three (the speed model's convert(min_speedup=...) prices them).
#pragma once

namespace strassentile::torch_ops {

bool keep_for_backward();
bool lean_backward();
bool keep_z_for_backward();

}  // namespace strassentile::torch_ops
