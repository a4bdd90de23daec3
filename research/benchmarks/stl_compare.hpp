// The measurements behind stl-lab-bench: dense cuBLAS, a naive three-step STL, our STL (stl_forward /
// stl_backward) and 2:4 sparse cuSPARSELt, forward and forward+backward, bf16, tile <4,4,4>, in one process.
//
// No CUDA types here: lab_bench.cpp includes this header and is compiled as plain C++.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dense_vs_stl.hpp"

namespace strassentile::bench {

using CompareShape = LayerShape;  // the shapes and timings of `strassentile bench` (dense_vs_stl.hpp)
using Measured = Timing;

struct CompareOptions {
  std::vector<CompareShape> shapes;
  int reps = 30;       // timed repetitions per measurement; the median is reported
  int warmup = 5;      // untimed runs first
  bool sparse = true;  // time cuSPARSELt too (when the build has it)
};

struct CompareRow {
  CompareShape shape;
  // Dense cuBLAS (CUBLAS_GEMM_DEFAULT) is timed first and again last in each shape, and once through cuBLASLt
  // with the same timed algorithm choice STL's GEMMs get (GemmChoice::tuned); ratios use the fastest of the three
  // (conservative).
  double dense_fwd_first_ms = 0, dense_fwd_last_ms = 0, dense_fb_first_ms = 0, dense_fb_last_ms = 0;
  Measured dense_tuned_fwd, dense_tuned_fb;
  double dense_default_fwd_ms() const { return std::min(dense_fwd_first_ms, dense_fwd_last_ms); }
  double dense_default_fb_ms() const { return std::min(dense_fb_first_ms, dense_fb_last_ms); }
  double dense_fwd_ms() const {
    return dense_tuned_fwd.ok ? std::min(dense_default_fwd_ms(), dense_tuned_fwd.ms) : dense_default_fwd_ms();
  }
  double dense_fb_ms() const {
    return dense_tuned_fb.ok ? std::min(dense_default_fb_ms(), dense_tuned_fb.ms) : dense_default_fb_ms();
  }

  Measured naive_fwd, naive_fb, naive_fb_all;
  Measured stl_fwd, stl_fb, stl_fb_all, stl_generic_fwd;
  // The same STL with the CUDA-core encode/decode kernels (KernelChoice::cuda_core) where the default
  // (stl_fwd, stl_fb) takes the tensor-core ones.
  Measured stl_cc_fwd, stl_cc_fb;
  // The same STL with its GEMMs on cuBLAS's default choice (GemmChoice::cublas_default).
  Measured stl_default_gemm_fwd, stl_default_gemm_fb;
  // The same fwd+bwd with the forward's X̂ and Z kept for the backward (BackwardParams::x_hat, ::z) instead of
  // recomputed: one encode (and, with all four gradients, one batched product) less, both workspaces alive.
  Measured stl_kept_fb, stl_kept_fb_all;
  Measured sparse_fwd, sparse_dx, sparse_fb;
  std::string sparse_dx_method;  // how dX was computed on cuSPARSELt, or why it was not

  // Agreement checks, max |a − b| / max |b| over the output; negative when not computed.
  double naive_vs_stl_y = -1, naive_vs_stl_dx = -1;  // naive against ours (same operator; bf16 coefficients)
  double sparse_vs_cublas_y = -1, sparse_vs_cublas_dx = -1;  // cuSPARSELt against cuBLAS on the pruned W
  double tc_vs_cc_y = -1, tc_vs_cc_dx = -1;  // default (tensor-core) STL against the CUDA-core one

  // Memory each pipeline allocates above its inputs (X, W or Ŵ and the coefficients, dY), in bytes: its outputs
  // and workspaces, exact cudaMalloc sizes (no caching allocator; cuBLAS's 32 MiB workspace, shared by all,
  // excluded). fwd: Y + workspace. fwd+bwd: Y, dX, dW or dŴ (+ dE_X, dD) and the larger of the forward's and
  // the backward's workspaces for STL (stl_backward recomputes X̂, so the forward's is free by then); the
  // naive pipeline keeps tiles(X), X̂, Z, tiles(Y) from its forward and adds dZ, dX̂, dtiles. Negative: n/a.
  struct Memory {
    double dense_fwd = -1, dense_fb = -1, naive_fwd = -1, naive_fb = -1, stl_fwd = -1, stl_fb = -1, stl_fb_all = -1;
    double stl_kept_fb = -1, stl_kept_fb_all = -1;  // X̂ and Z kept: the forward's workspace and the backward's
  } mem;
};

struct CompareEnv : BenchEnv {
  bool have_cusparselt = false;  // built with it
  int cusparselt = 0;            // version loaded at run time; 0 if none was used
};

struct CompareReport {
  CompareEnv env;
  CompareOptions options;
  std::vector<CompareRow> rows;
  std::vector<std::string> failures;  // shapes that could not be run at all, with the reason
};

// What each method runs, in words (the CLI prints these and writes them to the JSON and Markdown files).
const char* dense_description();
const char* naive_description();
const char* stl_description();
const char* sparse_description();
const char* timing_description();

// Times every shape; `progress` receives one line per finished shape. Throws std::runtime_error when no GPU can
// be used; a method that fails on one shape is reported in its Measured::why_not instead.
CompareReport run_compare(const CompareOptions& options, const std::function<void(const std::string&)>& progress);

}  // namespace strassentile::bench
