// bench_stl_kernels: the tensor-core <4,4,4> bf16 encode and decode (codec_mma.cuh) against the CUDA-core
// variants of the specialised kernels (tiles per thread V,
// products loaded per step CH, Z staged through shared memory or not) and the generic kernels, r = 24, at two
// sizes, as GB/s of ideal traffic and as a fraction of the device-to-device copy. It is how the defaults in
// src/cuda/kernels/encode_tiles.cuh, decode_tiles.cuh and decode_staged.cuh were chosen (docs/PERFORMANCE.md).
//
//   bench_stl_kernels [--reps N | --once] [--write-flush]
// The L2 is evicted before each timing by reading a 2×L2 buffer (--write-flush: by a memset, which leaves dirty
// lines for the timed kernel to write back). Each kernel is compared with a device-to-device copy of its own
// traffic, timed the same way.
#include <cuda_bf16.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.cuh"
#include "kernels/codec_mma.cuh"
#include "kernels/decode_staged.cuh"
#include "kernels/decode_tiles.cuh"
#include "kernels/encode_tiles.cuh"

namespace sd = strassentile::cuda::detail;
namespace sc = strassentile::cuda;
using namespace strassentile::bench;  // NOLINT(google-build-using-namespace)
using bf16 = __nv_bfloat16;

namespace {

void report(const char* name, double ms, double bytes, double copy_gbps) {
  const double gbps = bytes / (ms * 1e6);
  std::printf("  %-34s %8.3f ms %7.0f GB/s  %5.2f of copy\n", name, ms, gbps, gbps / copy_gbps);
}

// Rounds `count` fp32 coefficients on the device to the nearest bf16 values (kept as fp32).
void round_to_bf16_values(Buffer& coefs, std::size_t count) {
  std::vector<float> host(count);
  ok(cudaMemcpy(host.data(), coefs.ptr, count * sizeof(float), cudaMemcpyDeviceToHost), "copy coefficients");
  for (float& v : host) v = __bfloat162float(__float2bfloat16(v));
  ok(cudaMemcpy(coefs.ptr, host.data(), count * sizeof(float), cudaMemcpyHostToDevice), "copy coefficients");
}

void sweep(std::int64_t M, std::int64_t KN, int rank, const Timer& timer) {
  sc::StlShape s;
  s.rows = M;
  s.in_features = KN;
  s.out_features = KN;
  s.a = s.b = s.c = 4;
  s.rank = rank;
  const std::int64_t m = s.m(), k = s.k(), n = s.n();
  Buffer x(M * KN * 2), y(M * KN * 2), xh(rank * m * k * 2), z(rank * m * n * 2);
  Buffer enc(rank * 16 * 4), dec(16 * rank * 4);
  random_fill<bf16>(x.ptr, M * KN, 1, 1.0f);
  random_fill<bf16>(z.ptr, rank * m * n, 2, 1.0f);
  random_fill<float>(enc.ptr, rank * 16, 3, 0.25f);
  random_fill<float>(dec.ptr, rank * 16, 4, 0.25f);
  ok(cudaDeviceSynchronize(), "fill");

  sc::EncodeParams ep;  // strides resolved, as the dispatcher would
  ep.shape = s;
  ep.x.data = x.ptr;
  ep.x.ld = KN;
  ep.enc_x = static_cast<const float*>(enc.ptr);
  ep.x_hat.data = xh.ptr;
  ep.x_hat.ld = k;
  ep.x_hat.stride = m * k;
  ep.stream = timer.stream;
  sc::DecodeParams dp;
  dp.shape = s;
  dp.z.data = z.ptr;
  dp.z.ld = n;
  dp.z.stride = m * n;
  dp.dec = static_cast<const float*>(dec.ptr);
  dp.y.data = y.ptr;
  dp.y.ld = KN;
  dp.stream = timer.stream;

  const double enc_bytes = 2.0 * (M * KN + rank * m * k), dec_bytes = 2.0 * (rank * m * n + M * KN);
  const double copy_gbps = copy_bandwidth_gbps(timer, static_cast<std::size_t>(enc_bytes));
  std::printf("M=%lld K=N=%lld r=%d: encode %.0f MB, decode %.0f MB ideal traffic; a copy of %.0f MB: %.0f GB/s\n",
              static_cast<long long>(M), static_cast<long long>(KN), rank, enc_bytes / 1e6, dec_bytes / 1e6,
              enc_bytes / 1e6, copy_gbps);
  report("encode tensor cores (default)", timer.median_ms([&] { sd::run_encode_mma<bf16>(ep); }), enc_bytes, copy_gbps);
  report("encode V=2 (cuda-core)", timer.median_ms([&] { sd::run_encode_tiles<bf16, 4, 4, 2>(ep); }), enc_bytes,
         copy_gbps);
  report("encode V=4", timer.median_ms([&] { sd::run_encode_tiles<bf16, 4, 4, 4>(ep); }), enc_bytes, copy_gbps);
  report("encode generic", timer.median_ms([&] { sd::launch_encode_generic<sc::DType::bf16>(ep, {}); }), enc_bytes, copy_gbps);
  report("decode tensor cores (default)", timer.median_ms([&] { sd::run_decode_mma<bf16>(dp); }), dec_bytes, copy_gbps);
  report("decode staged (cuda-core)", timer.median_ms([&] { sd::run_decode_staged<bf16, 4, 4>(dp); }), dec_bytes,
         copy_gbps);
  report("decode tiles V=2 CH=4", timer.median_ms([&] { sd::run_decode_tiles<bf16, 4, 4, 2, 4>(dp); }), dec_bytes,
         copy_gbps);
  report("decode tiles V=2 CH=8", timer.median_ms([&] { sd::run_decode_tiles<bf16, 4, 4, 2, 8>(dp); }), dec_bytes,
         copy_gbps);
  report("decode tiles V=4 CH=4", timer.median_ms([&] { sd::run_decode_tiles<bf16, 4, 4, 4, 4>(dp); }), dec_bytes,
         copy_gbps);
  report("decode generic", timer.median_ms([&] { sd::launch_decode_generic<sc::DType::bf16, sc::DType::bf16>(dp, {}); }), dec_bytes, copy_gbps);
  // Coefficients that are bf16 values already (exact algorithms, a model stored in bf16): the tensor-core kernels
  // skip the products of their lo terms.
  round_to_bf16_values(enc, rank * 16);
  round_to_bf16_values(dec, rank * 16);
  report("encode tensor cores, bf16 coefs", timer.median_ms([&] { sd::run_encode_mma<bf16>(ep); }), enc_bytes,
         copy_gbps);
  report("decode tensor cores, bf16 coefs", timer.median_ms([&] { sd::run_decode_mma<bf16>(dp); }), dec_bytes,
         copy_gbps);
}

// The dispatcher's default encode and decode (sc::launch_encode / launch_decode, KernelChoice::automatic) for
// other tile formats and dtypes: what a user of those gets, against a copy of the same traffic.
void format_sweep(std::int64_t M, std::int64_t KN, const Timer& timer) {
  struct Case {
    int a, b, c, rank;
    sc::DType dtype;
  };
  const Case cases[] = {{4, 4, 4, 24, sc::DType::bf16}, {4, 4, 4, 24, sc::DType::f16}, {4, 4, 4, 24, sc::DType::f32},
                        {2, 2, 2, 7, sc::DType::bf16},  {3, 3, 3, 23, sc::DType::bf16}, {2, 4, 4, 16, sc::DType::bf16},
                        {1, 4, 4, 12, sc::DType::bf16}, {4, 4, 4, 49, sc::DType::bf16}};
  std::printf("dispatcher defaults, M=%lld K=N=%lld:\n", static_cast<long long>(M), static_cast<long long>(KN));
  for (const Case& c : cases) {
    sc::StlShape s;
    s.rows = M;
    s.in_features = s.out_features = KN;
    s.a = c.a, s.b = c.b, s.c = c.c, s.rank = c.rank;
    const std::int64_t m = s.m(), k = s.k(), n = s.n();
    const std::size_t e = sc::dtype_size(c.dtype);
    Buffer x(M * KN * e), y(M * KN * e), xh(c.rank * m * k * e), z(c.rank * m * n * e);
    Buffer enc(c.rank * c.a * c.b * 4), dec(c.a * c.c * c.rank * 4);
    ok(cudaMemset(x.ptr, 0x3c, M * KN * e), "memset");  // finite values in every dtype
    ok(cudaMemset(z.ptr, 0x3c, c.rank * m * n * e), "memset");
    random_fill<float>(enc.ptr, c.rank * c.a * c.b, 3, 0.25f);
    random_fill<float>(dec.ptr, c.a * c.c * c.rank, 4, 0.25f);
    ok(cudaDeviceSynchronize(), "fill");
    sc::EncodeParams ep;
    ep.shape = s;
    ep.dtype = c.dtype;
    ep.x.data = x.ptr;
    ep.enc_x = static_cast<const float*>(enc.ptr);
    ep.x_hat.data = xh.ptr;
    ep.stream = timer.stream;
    sc::DecodeParams dp;
    dp.shape = s;
    dp.dtype = c.dtype;
    dp.z.data = z.ptr;
    dp.dec = static_cast<const float*>(dec.ptr);
    dp.y.data = y.ptr;
    dp.stream = timer.stream;
    const double enc_bytes = static_cast<double>(e) * static_cast<double>(M * KN + c.rank * m * k);
    const double dec_bytes = static_cast<double>(e) * static_cast<double>(c.rank * m * n + M * KN);
    const double copy_gbps = copy_bandwidth_gbps(timer, static_cast<std::size_t>(enc_bytes));
    char name[96];
    std::snprintf(name, sizeof name, "encode <%d,%d,%d> r=%d %s", c.a, c.b, c.c, c.rank, sc::dtype_name(c.dtype));
    report(name, timer.median_ms([&] { sc::launch_encode(ep); }), enc_bytes, copy_gbps);
    std::snprintf(name, sizeof name, "decode <%d,%d,%d> r=%d %s", c.a, c.b, c.c, c.rank, sc::dtype_name(c.dtype));
    report(name, timer.median_ms([&] { sc::launch_decode(dp); }), dec_bytes, copy_gbps);
    // Contiguous X̂ and Z (ld = k, n) above; stl_forward's workspace rounds their rows up to 8 elements
    // (forward_workspace) so that they stay 16-byte aligned. Where that differs (k or n not a multiple of 8, e.g.
    // <3,3,3> at K = N = 4096: 1366), time that layout too: it is what the forward pass runs.
    const sc::ForwardWorkspace fws = sc::forward_workspace(s, c.dtype);
    if (fws.ld_x_hat != k || fws.ld_z != n) {
      Buffer xh_padded(static_cast<std::size_t>(c.rank * fws.stride_x_hat) * e);
      Buffer z_padded(static_cast<std::size_t>(c.rank * fws.stride_z) * e);
      ok(cudaMemset(z_padded.ptr, 0x3c, static_cast<std::size_t>(c.rank * fws.stride_z) * e), "memset");
      sc::EncodeParams ep2 = ep;
      ep2.x_hat = {xh_padded.ptr, fws.ld_x_hat, fws.stride_x_hat};
      sc::DecodeParams dp2 = dp;
      dp2.z = {z_padded.ptr, fws.ld_z, fws.stride_z};
      std::snprintf(name, sizeof name, "encode <%d,%d,%d> r=%d %s, rows padded to 8", c.a, c.b, c.c, c.rank,
                    sc::dtype_name(c.dtype));
      report(name, timer.median_ms([&] { sc::launch_encode(ep2); }), enc_bytes, copy_gbps);
      std::snprintf(name, sizeof name, "decode <%d,%d,%d> r=%d %s, rows padded to 8", c.a, c.b, c.c, c.rank,
                    sc::dtype_name(c.dtype));
      report(name, timer.median_ms([&] { sc::launch_decode(dp2); }), dec_bytes, copy_gbps);
    }
  }
}

// Between two layers: the first one's decode (bias + GELU) and the second one's encode, unfused (Y₁ written and
// read back) against launch_decode_encode (Y₁ stays in shared memory). bf16, <4,4,4>, r = 24 on both sides.
void decode_encode_sweep(std::int64_t M, std::int64_t N1, const Timer& timer) {
  sc::StlShape first, second;
  first.rows = second.rows = M;
  first.in_features = second.out_features = 4096;  // not touched here
  first.out_features = second.in_features = N1;
  first.a = first.b = first.c = second.a = second.b = second.c = 4;
  first.rank = second.rank = 24;
  const std::int64_t m = first.m(), n = first.n(), r = 24;
  Buffer z(r * m * n * 2), y(M * N1 * 2), xh(r * m * n * 2), bias(N1 * 2), dec(16 * r * 4), enc(r * 16 * 4);
  random_fill<bf16>(z.ptr, r * m * n, 1, 1.0f);
  random_fill<bf16>(bias.ptr, N1, 2, 1.0f);
  random_fill<float>(dec.ptr, 16 * r, 3, 0.25f);
  random_fill<float>(enc.ptr, r * 16, 4, 0.25f);
  ok(cudaDeviceSynchronize(), "fill");
  sc::DecodeParams dp;
  dp.shape = first;
  dp.z.data = z.ptr;
  dp.dec = static_cast<const float*>(dec.ptr);
  dp.bias = bias.ptr;
  dp.activation = sc::Activation::gelu_tanh;
  dp.y.data = y.ptr;
  dp.stream = timer.stream;
  sc::EncodeParams ep;
  ep.shape = second;
  ep.x.data = y.ptr;
  ep.enc_x = static_cast<const float*>(enc.ptr);
  ep.x_hat.data = xh.ptr;
  ep.stream = timer.stream;
  sc::DecodeEncodeParams fp;
  fp.first = first;
  fp.second = second;
  fp.z.data = z.ptr;
  fp.dec = dp.dec;
  fp.bias = bias.ptr;
  fp.activation = sc::Activation::gelu_tanh;
  fp.enc_x = ep.enc_x;
  fp.x_hat.data = xh.ptr;
  fp.stream = timer.stream;
  const double fused_bytes = 2.0 * static_cast<double>(2 * r * m * n);  // Z₁ read, X̂₂ written
  const double plain_bytes = fused_bytes + 2.0 * 2.0 * static_cast<double>(M * N1);  // + Y₁ written and read
  const double copy_gbps = copy_bandwidth_gbps(timer, static_cast<std::size_t>(fused_bytes));
  std::printf("between layers, M=%lld N1=%lld r=24 bf16, bias + GELU: %.0f MB fused, %.0f MB unfused\n",
              static_cast<long long>(M), static_cast<long long>(N1), fused_bytes / 1e6, plain_bytes / 1e6);
  const double plain = timer.median_ms([&] {
    sc::launch_decode(dp);
    sc::launch_encode(ep);
  });
  const double fused = timer.median_ms([&] { sc::launch_decode_encode(fp); });
  report("decode, then encode", plain, plain_bytes, copy_gbps);
  report("decode-encode fused", fused, fused_bytes, copy_gbps);
  std::printf("  fused saves %.3f ms (%.2fx)\n", plain - fused, plain / fused);
  // What the activation costs: the decode alone and the fused pass with none / ReLU / GELU.
  const double y_bytes = 2.0 * static_cast<double>(r * m * n + M * N1);
  for (const auto& [act, name] : {std::pair{sc::Activation::none, "none"}, std::pair{sc::Activation::relu, "relu"},
                                  std::pair{sc::Activation::gelu_tanh, "gelu"}}) {
    dp.activation = fp.activation = act;
    char label[64];
    std::snprintf(label, sizeof label, "decode alone, bias + %s", name);
    report(label, timer.median_ms([&] { sc::launch_decode(dp); }), y_bytes, copy_gbps);
    std::snprintf(label, sizeof label, "decode-encode fused, bias + %s", name);
    report(label, timer.median_ms([&] { sc::launch_decode_encode(fp); }), fused_bytes, copy_gbps);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 30, warmup = 5;
  Flush flush_mode = Flush::read;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--once") {
      reps = 1, warmup = 0;  // for profilers
    } else if (arg == "--write-flush") {
      flush_mode = Flush::write;
    } else {
      std::fprintf(stderr, "bench_stl_kernels: unknown argument '%s'; use [--reps N | --once] [--write-flush]\n",
                   arg.c_str());
      return 2;
    }
  }
  try {
    cudaDeviceProp prop{};
    ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    cudaStream_t stream;
    ok(cudaStreamCreate(&stream), "cudaStreamCreate");
    const L2FlushBuffer flush(prop);
    const Timer timer{stream, flush.buffer.ptr, flush.bytes, warmup, reps, flush_mode};
    std::printf("%s: copy of 2 GiB %.0f GB/s; bf16 <4,4,4>, median of %d, L2 evicted before each by %s\n", prop.name,
                copy_bandwidth_gbps(timer), reps,
                flush_mode == Flush::read ? "reading 2x L2 (clean lines)" : "a memset of 2x L2 (dirty lines)");
    sweep(16384, 4096, 24, timer);
    sweep(8192, 16384, 24, timer);
    sweep(16384, 4096, 48, timer);  // the exact <4,4,4> algorithms' rank (48, 49): four 16-product steps
    format_sweep(16384, 4096, timer);
    decode_encode_sweep(8192, 16384, timer);  // an MLP's fc1 → GELU → fc2 (d = 4096, 4d hidden)
    decode_encode_sweep(16384, 4096, timer);
    cudaStreamDestroy(stream);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_stl_kernels: %s\n", e.what());
    return 1;
  }
  return 0;
}
