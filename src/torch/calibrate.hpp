// Internal: fitting an STL layer to a dense layer's outputs on calibration inputs.
#pragma once

#include <ATen/ATen.h>

#include "strassentile/torch/stl_linear.hpp"

#include <optional>
#include <tuple>

namespace strassentile::torch_ops {

// Minimises ‖STL(x; w_hat, enc_x, dec) + bias − y‖² full batch, in float32 on x's device: over w_hat alone by
// Jacobi-preconditioned CGLS (`steps` iterations; it is linear least squares), or, when train_basis, over w_hat,
// enc_x and dec by Adam (`steps` steps of `lr`). Returns the fitted (w_hat, enc_x, dec) in their input dtypes and
// the relative errors ‖·‖/‖y‖ before and after. Never returns a worse fit than it was given.
std::tuple<at::Tensor, at::Tensor, at::Tensor, double, double> calibrate(
    const at::Tensor& x, const at::Tensor& y, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, int64_t steps, double lr, bool train_basis);

}  // namespace strassentile::torch_ops

namespace strassentile {

// Fits `stl` (w_hat; also enc_x and dec when calibrate.train_basis) to reproduce linear(calibration) and installs
// the result; the calibration inputs are moved to the weight's device and dtype. Shared by the data-free and the
// data-aware stl_from_linear.
CalibrationReport calibrate_to_linear(STLLinear& stl, const torch::nn::Linear& linear, const torch::Tensor& calibration,
                                      const CalibrationOptions& calibrate);

}  // namespace strassentile
