// The timing engine of `strassentile bench`: one dense layer on cuBLAS against one STL layer (stl_forward,
// stl_backward) of the same sizes, forward and forward+backward, bf16, tile <4,4,4>, on the user's GPU.
//
// No CUDA types here: the CLI (cmd_bench.cpp) includes this header and is compiled as plain C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strassentile::bench {

struct LayerShape {
  std::int64_t M = 0, K = 0, N = 0;
  int rank = 24;
};

struct BenchOptions {
  std::vector<LayerShape> shapes;
  int reps = 30;   // timed repetitions per measurement; the median is reported
  int warmup = 5;  // untimed runs first
};

// One measurement: the median milliseconds, or why there is none.
struct Timing {
  bool ok = false;
  double ms = 0.0;
  std::string why_not;
};

struct BenchRow {
  LayerShape shape;
  // Dense: the faster of cuBLAS's own choice and cuBLASLt's fastest timed algorithm (the choice STL's GEMMs get).
  double dense_fwd_ms = 0, dense_fwd_bwd_ms = 0;
  Timing stl_fwd, stl_fwd_bwd;  // fwd+bwd: gradients of x and w_hat
};

struct BenchEnv {
  std::string device;
  int sm_count = 0;
  std::int64_t l2_bytes = 0;
  int cuda_runtime = 0, cuda_driver = 0, cublas = 0;
  std::size_t flush_bytes = 0;  // read before every timed repetition to evict the L2
};

struct BenchReport {
  BenchEnv env;
  BenchOptions options;
  std::vector<BenchRow> rows;
  std::vector<std::string> failures;  // shapes that could not be run at all, with the reason
};

// What each side runs and how it is timed, in words (printed and written to the JSON file).
const char* dense_description();
const char* stl_description();
const char* timing_description();

// Times every shape; `progress` receives one line per finished shape. Throws std::runtime_error when no GPU can
// be used; an STL run that fails on one shape is reported in its Timing::why_not instead.
BenchReport run_dense_vs_stl(const BenchOptions& options, const std::function<void(const std::string&)>& progress);

}  // namespace strassentile::bench
