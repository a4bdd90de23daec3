// The torch-free entry points of strassentile/cuda/stl_cuda.hpp reject bad parameters before any work is enqueued
// that could touch memory out of bounds: validate, launch_products, stl_forward, stl_mlp_forward and stl_backward, for
// null pointers where one is required, leading dimensions and strides too small, pointers not aligned to their
// elements, a short or misaligned workspace, rank 0, a seq_len that does not divide the rows, and layers that do not
// chain. Each must throw std::invalid_argument whose message names the offending field (the caller's fix).
//
// Every case starts from parameters that run (checked first), backed by real device buffers, and breaks one field, so
// a check that is missing fails the case without an out-of-bounds access.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace sc = strassentile::cuda;
using namespace strassentile::cuda_test;

namespace {

using Results = CheckCounts;

// One bad field: `breaks` turns valid parameters into bad ones; the message must contain `field`.
template <class Params>
struct Case {
  std::string field;
  std::function<void(Params&)> breaks;
};

template <class Params>
void run_cases(const char* entry, const Params& valid, const std::function<void(const Params&)>& call,
               const std::vector<Case<Params>>& cases, Results& results) {
  bool runs = true;
  try {
    call(valid);
    cuda_ok(cudaDeviceSynchronize(), entry);
  } catch (const std::exception& e) {
    runs = false;
    std::printf("  %s: %s\n", entry, e.what());
  }
  results.expect(runs, std::string(entry) + ": the valid parameters run");
  for (const Case<Params>& c : cases) {
    Params bad = valid;
    c.breaks(bad);
    results.expect(throws_naming([&] { call(bad); }, c.field), std::string(entry) + " names '" + c.field + "'");
  }
  cuda_ok(cudaDeviceSynchronize(), entry);
}

// A one-byte offset: no 16-bit or 32-bit element starts there.
const void* misaligned(const void* p) { return static_cast<const char*>(p) + 1; }
void* misaligned(void* p) { return static_cast<char*>(p) + 1; }

sc::StlShape layer(std::int64_t rows, std::int64_t in, std::int64_t out, int rank, std::int64_t seq = 0) {
  sc::StlShape s;
  s.rows = rows, s.in_features = in, s.out_features = out, s.a = 4, s.b = 4, s.c = 4, s.rank = rank, s.seq_len = seq;
  return s;
}

void test_validate(Results& results) {
  const sc::StlShape ok = layer(12, 8, 8, 7, 6);
  using C = Case<sc::StlShape>;
  run_cases<sc::StlShape>("validate", ok, [](const sc::StlShape& s) { sc::validate(s); },
                          {C{"rows", [](sc::StlShape& s) { s.rows = -1; }},
                           C{"in_features", [](sc::StlShape& s) { s.in_features = -8; }},
                           C{"tile", [](sc::StlShape& s) { s.b = 0; }},
                           C{"rank", [](sc::StlShape& s) { s.rank = 0; }},
                           C{"seq_len", [](sc::StlShape& s) { s.seq_len = 5; }},
                           C{"seq_len", [](sc::StlShape& s) { s.seq_len = -6; }},
                           C{"overflow", [](sc::StlShape& s) { s.seq_len = 0, s.rows = s.in_features = std::int64_t{1} << 40; }}},
                          results);
}

void test_products(cublasHandle_t handle, Results& results) {
  const std::int64_t r = 3, m = 5, k = 6, n = 7;
  DeviceBuffer x_hat(r * m * k * 2 + 16), w_hat(r * k * n * 2 + 16), z(r * m * n * 2 + 16);
  sc::ProductsParams p;
  p.handle = handle;
  p.dtype = sc::DType::bf16;
  p.batch = r, p.m = m, p.k = k, p.n = n;
  p.x_hat.data = x_hat.ptr;
  p.w_hat.data = w_hat.ptr;
  p.z.data = z.ptr;
  using C = Case<sc::ProductsParams>;
  run_cases<sc::ProductsParams>(
      "launch_products", p, [](const sc::ProductsParams& q) { sc::launch_products(q); },
      {C{"batch", [](sc::ProductsParams& q) { q.batch = -1; }},
       C{"handle", [](sc::ProductsParams& q) { q.handle = nullptr; }},
       C{"x_hat", [](sc::ProductsParams& q) { q.x_hat.data = nullptr; }},
       C{"w_hat", [](sc::ProductsParams& q) { q.w_hat.data = nullptr; }},
       C{"z", [](sc::ProductsParams& q) { q.z.data = nullptr; }},
       C{"x_hat.ld", [](sc::ProductsParams& q) { q.x_hat.ld = 5; }},
       C{"w_hat.ld", [](sc::ProductsParams& q) { q.w_hat.ld = 6; }},
       C{"z.ld", [](sc::ProductsParams& q) { q.z.ld = 6; }},
       C{"x_hat.stride", [](sc::ProductsParams& q) { q.x_hat.stride = 29; }},
       C{"w_hat.stride", [](sc::ProductsParams& q) { q.w_hat.stride = 41; }},
       C{"z.stride", [](sc::ProductsParams& q) { q.z.stride = 34; }},
       C{"x_hat", [&](sc::ProductsParams& q) { q.x_hat.data = misaligned(x_hat.ptr); }},
       C{"w_hat", [&](sc::ProductsParams& q) { q.w_hat.data = misaligned(w_hat.ptr); }},
       C{"z", [&](sc::ProductsParams& q) { q.z.data = misaligned(z.ptr); }},
       C{"dtype", [](sc::ProductsParams& q) { q.dtype = static_cast<sc::DType>(7); }}},
      results);
}

// Device buffers for one layer of `shape` in bf16: X, Ŵ, E_X, D, bias, Y and the forward's workspace.
struct LayerBuffers {
  DeviceBuffer x, w_hat, enc_x, dec, bias, y;
  LayerBuffers(const sc::StlShape& s, std::size_t workspace_bytes)
      : x(static_cast<std::size_t>(s.rows * s.in_features) * 2 + 16),
        w_hat(static_cast<std::size_t>(s.rank * s.k() * s.n()) * 2 + 16),
        enc_x(static_cast<std::size_t>(s.rank * s.a * s.b) * 4),
        dec(static_cast<std::size_t>(s.rank * s.a * s.c) * 4),
        bias(static_cast<std::size_t>(s.out_features) * 2),
        y(static_cast<std::size_t>(s.rows * s.out_features) * 2 + 16),
        workspace(workspace_bytes + 256) {
    for (DeviceBuffer* b : {&x, &w_hat, &enc_x, &dec, &bias, &y})
      cuda_ok(cudaMemset(b->ptr, 0, b->bytes), "cudaMemset");
  }
  DeviceBuffer workspace;
};

void test_forward(cublasHandle_t handle, Results& results) {
  const sc::StlShape s = layer(24, 20, 36, 24, 12);  // k = 5, n = 9: bf16 products on padded sides
  const std::size_t ws = sc::forward_workspace(s, sc::DType::bf16).bytes;
  LayerBuffers b(s, ws);
  sc::ForwardParams p;
  p.shape = s;
  p.dtype = sc::DType::bf16;
  p.x.data = b.x.ptr;
  p.w_hat.data = b.w_hat.ptr;
  p.enc_x = static_cast<const float*>(b.enc_x.ptr);
  p.dec = static_cast<const float*>(b.dec.ptr);
  p.bias = b.bias.ptr;
  p.y.data = b.y.ptr;
  p.workspace = b.workspace.ptr;
  p.workspace_bytes = ws;
  p.cublas = handle;
  using C = Case<sc::ForwardParams>;
  run_cases<sc::ForwardParams>(
      "stl_forward", p, [](const sc::ForwardParams& q) { sc::stl_forward(q); },
      {C{"rank", [](sc::ForwardParams& q) { q.shape.rank = 0; }},
       C{"seq_len", [](sc::ForwardParams& q) { q.shape.seq_len = 7; }},
       C{"x", [](sc::ForwardParams& q) { q.x.data = nullptr; }},
       C{"w_hat", [](sc::ForwardParams& q) { q.w_hat.data = nullptr; }},
       C{"enc_x", [](sc::ForwardParams& q) { q.enc_x = nullptr; }},
       C{"dec", [](sc::ForwardParams& q) { q.dec = nullptr; }},
       C{"y", [](sc::ForwardParams& q) { q.y.data = nullptr; }},
       C{"cuBLAS handle", [](sc::ForwardParams& q) { q.cublas = nullptr; }},
       C{"x.ld", [](sc::ForwardParams& q) { q.x.ld = 19; }},
       C{"y.ld", [](sc::ForwardParams& q) { q.y.ld = 35; }},
       C{"w_hat.ld", [](sc::ForwardParams& q) { q.w_hat.ld = 8; }},
       C{"workspace", [](sc::ForwardParams& q) { --q.workspace_bytes; }},
       C{"workspace", [&](sc::ForwardParams& q) { q.workspace = static_cast<char*>(b.workspace.ptr) + 128; }}},
      results);
}

void test_mlp_forward(cublasHandle_t handle, Results& results) {
  const sc::StlShape first = layer(24, 20, 40, 24), second = layer(24, 40, 12, 16);
  const std::size_t ws = sc::mlp_forward_workspace(first, second, sc::DType::bf16);
  LayerBuffers one(first, ws), two(second, 0);
  sc::MlpForwardParams p;
  p.first = first;
  p.second = second;
  p.dtype = sc::DType::bf16;
  p.x.data = one.x.ptr;
  p.w_hat1 = one.w_hat.ptr;
  p.enc_x1 = static_cast<const float*>(one.enc_x.ptr);
  p.dec1 = static_cast<const float*>(one.dec.ptr);
  p.bias1 = one.bias.ptr;
  p.w_hat2 = two.w_hat.ptr;
  p.enc_x2 = static_cast<const float*>(two.enc_x.ptr);
  p.dec2 = static_cast<const float*>(two.dec.ptr);
  p.bias2 = two.bias.ptr;
  p.y.data = two.y.ptr;
  p.workspace = one.workspace.ptr;
  p.workspace_bytes = ws;
  p.cublas = handle;
  using C = Case<sc::MlpForwardParams>;
  run_cases<sc::MlpForwardParams>(
      "stl_mlp_forward", p, [](const sc::MlpForwardParams& q) { sc::stl_mlp_forward(q); },
      {C{"rank", [](sc::MlpForwardParams& q) { q.second.rank = 0; }},
       C{"seq_len", [](sc::MlpForwardParams& q) { q.first.seq_len = q.second.seq_len = 7; }},
       C{"in_features", [](sc::MlpForwardParams& q) { q.second.in_features = 44; }},
       C{"rows", [](sc::MlpForwardParams& q) { q.second.rows = 12; }},
       C{"x", [](sc::MlpForwardParams& q) { q.x.data = nullptr; }},
       C{"w_hat1", [](sc::MlpForwardParams& q) { q.w_hat1 = nullptr; }},
       C{"enc_x1", [](sc::MlpForwardParams& q) { q.enc_x1 = nullptr; }},
       C{"dec1", [](sc::MlpForwardParams& q) { q.dec1 = nullptr; }},
       C{"w_hat2", [](sc::MlpForwardParams& q) { q.w_hat2 = nullptr; }},
       C{"enc_x2", [](sc::MlpForwardParams& q) { q.enc_x2 = nullptr; }},
       C{"dec2", [](sc::MlpForwardParams& q) { q.dec2 = nullptr; }},
       C{"y", [](sc::MlpForwardParams& q) { q.y.data = nullptr; }},
       C{"cublas", [](sc::MlpForwardParams& q) { q.cublas = nullptr; }},
       C{"x.ld", [](sc::MlpForwardParams& q) { q.x.ld = 19; }},
       C{"y.ld", [](sc::MlpForwardParams& q) { q.y.ld = 11; }},
       C{"x", [&](sc::MlpForwardParams& q) { q.x.data = misaligned(one.x.ptr); }},
       C{"w_hat1", [&](sc::MlpForwardParams& q) { q.w_hat1 = misaligned(one.w_hat.ptr); }},
       C{"w_hat2", [&](sc::MlpForwardParams& q) { q.w_hat2 = misaligned(two.w_hat.ptr); }},
       C{"bias1", [&](sc::MlpForwardParams& q) { q.bias1 = misaligned(one.bias.ptr); }},
       C{"y", [&](sc::MlpForwardParams& q) { q.y.data = misaligned(two.y.ptr); }},
       C{"enc_x1", [&](sc::MlpForwardParams& q) { q.enc_x1 = static_cast<const float*>(misaligned(one.enc_x.ptr)); }},
       C{"workspace", [](sc::MlpForwardParams& q) { --q.workspace_bytes; }},
       C{"workspace", [&](sc::MlpForwardParams& q) { q.workspace = static_cast<char*>(one.workspace.ptr) + 64; }}},
      results);
}

void test_backward(cublasHandle_t handle, Results& results) {
  const sc::StlShape s = layer(24, 20, 36, 24, 12);
  const sc::BackwardNeeds all{true, true, true, true, true};
  const std::size_t ws = sc::backward_workspace(s, sc::DType::bf16, all);
  LayerBuffers b(s, ws);
  DeviceBuffer dy(b.y.bytes), dx(b.x.bytes), dw(b.w_hat.bytes * 2), d_enc(b.enc_x.bytes), d_dec(b.dec.bytes),
      d_bias(static_cast<std::size_t>(s.out_features) * 4);
  cuda_ok(cudaMemset(dy.ptr, 0, dy.bytes), "cudaMemset");
  sc::BackwardParams p;
  p.shape = s;
  p.dtype = sc::DType::bf16;
  p.dy.data = dy.ptr;
  p.x.data = b.x.ptr;
  p.w_hat.data = b.w_hat.ptr;
  p.enc_x = static_cast<const float*>(b.enc_x.ptr);
  p.dec = static_cast<const float*>(b.dec.ptr);
  p.dx.data = dx.ptr;
  p.dw_hat.data = dw.ptr;
  p.d_enc_x = static_cast<float*>(d_enc.ptr);
  p.d_dec = static_cast<float*>(d_dec.ptr);
  p.d_bias = static_cast<float*>(d_bias.ptr);
  p.workspace = b.workspace.ptr;
  p.workspace_bytes = ws;
  p.cublas = handle;
  using C = Case<sc::BackwardParams>;
  run_cases<sc::BackwardParams>(
      "stl_backward", p, [](const sc::BackwardParams& q) { sc::stl_backward(q); },
      {C{"rank", [](sc::BackwardParams& q) { q.shape.rank = 0; }},
       C{"seq_len", [](sc::BackwardParams& q) { q.shape.seq_len = 5; }},
       C{"dy", [](sc::BackwardParams& q) { q.dy.data = nullptr; }},
       C{"x", [](sc::BackwardParams& q) { q.x.data = nullptr; }},
       C{"w_hat", [](sc::BackwardParams& q) { q.w_hat.data = nullptr; }},
       C{"enc_x", [](sc::BackwardParams& q) { q.enc_x = nullptr; }},
       C{"dec", [](sc::BackwardParams& q) { q.dec = nullptr; }},
       C{"cublas", [](sc::BackwardParams& q) { q.cublas = nullptr; }},
       C{"dy.ld", [](sc::BackwardParams& q) { q.dy.ld = 35; }},
       C{"x.ld", [](sc::BackwardParams& q) { q.x.ld = 19; }},
       C{"dx.ld", [](sc::BackwardParams& q) { q.dx.ld = 19; }},
       C{"w_hat.ld", [](sc::BackwardParams& q) { q.w_hat.ld = 8; }},
       C{"dw_hat.ld", [](sc::BackwardParams& q) { q.dw_hat.ld = 8; }},
       C{"dw_hat.stride", [](sc::BackwardParams& q) { q.dw_hat.stride = 44; }},
       C{"x_hat.ld", [&](sc::BackwardParams& q) { q.x_hat = {b.workspace.ptr, 4, 0}; }},
       C{"workspace", [](sc::BackwardParams& q) { --q.workspace_bytes; }},
       C{"workspace", [&](sc::BackwardParams& q) { q.workspace = static_cast<char*>(b.workspace.ptr) + 32; }},
       // Last: were one of these not rejected, its misaligned access would end the CUDA context.
       C{"dy", [&](sc::BackwardParams& q) { q.dy.data = misaligned(dy.ptr); }},
       C{"dx", [&](sc::BackwardParams& q) { q.dx.data = misaligned(dx.ptr); }},
       C{"d_bias", [&](sc::BackwardParams& q) { q.d_bias = static_cast<float*>(misaligned(d_bias.ptr)); }}},
      results);
}

}  // namespace

int main() {
  int exit_code = 0;
  cublasHandle_t handle = cuda_test_handle(exit_code);
  if (handle == nullptr) return exit_code;
  Results results;
  try {
    test_validate(results);
    test_products(handle, results);
    test_forward(handle, results);
    test_mlp_forward(handle, results);
    test_backward(handle, results);
  } catch (const std::exception& e) {
    std::printf("FAIL unexpected exception: %s\n", e.what());
    ++results.failed;
  }
  cublasDestroy(handle);
  std::printf("%d passed, %d failed\n", results.passed, results.failed);
  return results.failed == 0 ? 0 : 1;
}
