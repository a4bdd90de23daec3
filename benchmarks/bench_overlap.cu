// bench_overlap: does running encode/decode beside the products pay? stl_forward (one stream, everything in turn)
// against stl_forward_pipelined on two plain streams and on the two streams of an SmPartition (green contexts:
// the products on G SMs, encode/decode on the rest), for several chunk counts; and each side alone on its SMs.
// bf16, <4,4,4>, r = 24; median of --reps, L2 evicted before each; every variant's Y is compared with
// stl_forward's.
//
// Also stl_forward_chunked: blocks of rows in turn on one stream, through a fresh, a reused and a reused
// L2-persisting workspace (--blocks; an empty list skips it, as --gemm-sms "" and --chunks "" skip the others).
//
//   bench_overlap OUT.json [--reps N] [--shapes MxKxN,...] [--gemm-sms G,...] [--chunks C,...] [--blocks B,...]
#include <cuda_bf16.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_options.hpp"
#include "bench_util.cuh"
#include "forward_chunked.hpp"
#include "forward_pipelined.hpp"
#include "sm_partition.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace sc = strassentile::cuda;
using namespace strassentile::bench;  // NOLINT(google-build-using-namespace)
using bf16 = __nv_bfloat16;

namespace {


__global__ void max_abs_diff(const bf16* a, const bf16* b, std::size_t count, float* out) {
  float diff = 0.0f, mag = 0.0f;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float x = __bfloat162float(a[i]), y = __bfloat162float(b[i]);
    diff = fmaxf(diff, fabsf(x - y));
    mag = fmaxf(mag, fabsf(x));
  }
  // Non-negative floats order like their bit patterns.
  atomicMax(reinterpret_cast<unsigned*>(out), __float_as_uint(diff));
  atomicMax(reinterpret_cast<unsigned*>(out) + 1, __float_as_uint(mag));
}

// max |a − b| / max |a| over `count` bf16 values.
double relative_diff(const void* a, const void* b, std::size_t count) {
  Buffer out(2 * sizeof(float));
  ok(cudaMemset(out.ptr, 0, 2 * sizeof(float)), "memset");
  max_abs_diff<<<1024, 256>>>(static_cast<const bf16*>(a), static_cast<const bf16*>(b), count,
                             static_cast<float*>(out.ptr));
  ok(cudaDeviceSynchronize(), "max_abs_diff");
  float host[2];
  ok(cudaMemcpy(host, out.ptr, sizeof host, cudaMemcpyDeviceToHost), "copy");
  return host[1] > 0 ? host[0] / host[1] : host[0];
}

// fn enqueued on `side` between two events, so that the main stream's timer brackets it.
void on_stream(cudaStream_t main, cudaStream_t side, const std::function<void()>& fn) {
  cudaEvent_t fork, join;
  ok(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming), "cudaEventCreate");
  ok(cudaEventCreateWithFlags(&join, cudaEventDisableTiming), "cudaEventCreate");
  ok(cudaEventRecord(fork, main), "cudaEventRecord");
  ok(cudaStreamWaitEvent(side, fork, 0), "cudaStreamWaitEvent");
  fn();
  ok(cudaEventRecord(join, side), "cudaEventRecord");
  ok(cudaStreamWaitEvent(main, join, 0), "cudaStreamWaitEvent");
  cudaEventDestroy(fork);
  cudaEventDestroy(join);
}

struct Row {
  std::string variant;
  int gemm_sms = 0, codec_sms = 0, chunks = 0;
  double ms = 0, rel_diff = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (!opts.parse(argc, argv, {"--reps", "--shapes", "--gemm-sms", "--chunks", "--blocks"},
                  "OUT.json [--reps N] [--shapes MxKxN,...] [--gemm-sms G,...] [--chunks C,...] [--blocks B,...]"))
    return 2;
  const std::string out_path = opts.out();
  const int reps = opts.integer("--reps", 15, 1);
  const std::string shapes = opts.text("--shapes", "16384x4096x4096,8192x8192x8192,16384x16384x16384");
  const std::vector<std::int64_t> gemm_sms = opts.numbers("--gemm-sms", {100, 108, 116, 124});
  const std::vector<std::int64_t> chunk_counts = opts.numbers("--chunks", {2, 4, 8});
  const std::vector<std::int64_t> block_counts = opts.numbers("--blocks", {4, 8, 16, 32});
  try {
    cudaDeviceProp prop{};
    ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    cudaStream_t main_stream, side_a, side_b;
    ok(cudaStreamCreateWithFlags(&main_stream, cudaStreamNonBlocking), "cudaStreamCreate");
    ok(cudaStreamCreateWithFlags(&side_a, cudaStreamNonBlocking), "cudaStreamCreate");
    ok(cudaStreamCreateWithFlags(&side_b, cudaStreamNonBlocking), "cudaStreamCreate");
    cublasHandle_t handle, gemm_handle;
    ok(cublasCreate(&handle), "cublasCreate");
    ok(cublasCreate(&gemm_handle), "cublasCreate");
    const L2FlushBuffer flush(prop);
    const Timer timer{main_stream, flush.buffer.ptr, flush.bytes, 3, reps};

    // Partitions first: creating one after the buffers would not change them, but failures show up early.
    std::vector<std::unique_ptr<SmPartition>> partitions;
    for (const std::int64_t g : gemm_sms) {
      try {
        partitions.push_back(std::make_unique<SmPartition>(0, static_cast<int>(g)));
        std::printf("partition asked %lld: products %d SMs, encode/decode %d SMs\n", static_cast<long long>(g),
                    partitions.back()->gemm_sms(), partitions.back()->codec_sms());
      } catch (const std::exception& e) {
        std::printf("partition asked %lld: %s\n", static_cast<long long>(g), e.what());
      }
    }
    std::printf("%s, %d SMs; bf16 <4,4,4> r=24; median of %d, L2 evicted before each\n", prop.name,
                prop.multiProcessorCount, reps);
    std::FILE* json = std::fopen(out_path.c_str(), "w");
    if (json == nullptr) throw std::runtime_error("cannot write " + out_path);
    std::fprintf(json, "{\"device\": \"%s\", \"sm_count\": %d, \"reps\": %d, \"results\": [\n", prop.name,
                 prop.multiProcessorCount, reps);
    bool first_json = true;

    for (const std::string& shape_text : split(shapes)) {
      const std::vector<std::int64_t> d = split_numbers(shape_text, 'x');
      if (d.size() != 3) throw std::invalid_argument("--shapes wants MxKxN, got " + shape_text);
      sc::StlShape s;
      s.rows = d[0], s.in_features = d[1], s.out_features = d[2];
      s.a = s.b = s.c = 4;
      s.rank = 24;
      const std::int64_t M = s.rows, K = s.in_features, N = s.out_features, r = s.rank;
      const sc::ForwardWorkspace ws = sc::forward_workspace(s, sc::DType::bf16);
      Buffer x(M * K * 2), w_hat(r * s.k() * s.n() * 2), y_ref(M * N * 2), y(M * N * 2), bias(N * 2), work(ws.bytes);
      Buffer enc(r * 16 * 4), dec(16 * r * 4);
      random_fill<bf16>(x.ptr, M * K, 1, 1.0f);
      random_fill<bf16>(w_hat.ptr, r * s.k() * s.n(), 3, 1.0f);
      random_fill<bf16>(bias.ptr, N, 4, 1.0f);
      random_fill<float>(enc.ptr, r * 16, 5, 0.25f);
      random_fill<float>(dec.ptr, 16 * r, 6, 0.25f);
      ok(cudaDeviceSynchronize(), "fill");

      sc::ForwardParams fp;
      fp.shape = s;
      fp.x = x.ptr;
      fp.w_hat = w_hat.ptr;
      fp.enc_x = static_cast<const float*>(enc.ptr);
      fp.dec = static_cast<const float*>(dec.ptr);
      fp.bias = bias.ptr;
      fp.y = y_ref.ptr;
      fp.workspace = work.ptr;
      fp.workspace_bytes = ws.bytes;
      fp.cublas = handle;
      fp.stream = main_stream;
      std::vector<Row> rows;
      const auto dense_equiv_tflops = [&](double ms) { return 2.0 * M * K * N / (ms * 1e9); };
      {
        Row row{"stl_forward (one stream)", prop.multiProcessorCount, prop.multiProcessorCount, 1};
        row.ms = timer.median_ms([&] { sc::stl_forward(fp); });
        rows.push_back(row);
      }
      sc::ForwardParams fq = fp;
      fq.y = y.ptr;
      const auto pipelined = [&](const char* name, PipelineStreams ps, int g, int cs) {
        for (const std::int64_t c : chunk_counts) {
          ps.chunks = static_cast<int>(c);
          ok(cudaMemsetAsync(y.ptr, 0xFF, M * N * 2, main_stream), "poison");  // NaNs
          Row row{name, g, cs, static_cast<int>(c)};
          row.ms = timer.median_ms([&] { stl_forward_pipelined(fq, ps); });
          ok(cudaStreamSynchronize(main_stream), "sync");
          row.rel_diff = relative_diff(y_ref.ptr, y.ptr, M * N);
          rows.push_back(row);
        }
      };
      {
        PipelineStreams ps;
        ps.gemm = side_a, ps.codec = side_b, ps.gemm_cublas = gemm_handle;
        pipelined("pipelined, two plain streams", ps, prop.multiProcessorCount, prop.multiProcessorCount);
      }
      if (!block_counts.empty()) {
        std::size_t most = 0;
        for (const std::int64_t b : block_counts)
          most = std::max(most, chunked_workspace_bytes(fp, static_cast<int>(b), BlockWorkspace::fresh));
        Buffer blocks_work(most);
        {
          // What setting L2 aside costs whatever does not use it (the products' operands lose that much L2).
          const PersistingL2SetAside set_aside(std::size_t{1} << 40);
          Row row{"stl_forward, L2 set aside for persisting", prop.multiProcessorCount, prop.multiProcessorCount, 1};
          row.ms = timer.median_ms([&] { sc::stl_forward(fp); });
          rows.push_back(row);
          std::printf("  L2 set aside for persisting accesses at most: %.1f MiB\n", set_aside.bytes() / 1048576.0);
        }
        const struct {
          const char* name;
          BlockWorkspace mode;
        } modes[] = {{"blocks in turn, fresh workspace", BlockWorkspace::fresh},
                     {"blocks in turn, reused workspace", BlockWorkspace::reuse},
                     {"blocks in turn, reused, L2-persisting", BlockWorkspace::reuse_persisting}};
        for (const auto& m : modes) {
          for (const std::int64_t b : block_counts) {
            sc::ForwardParams fb = fq;
            fb.workspace = blocks_work.ptr;
            fb.workspace_bytes = chunked_workspace_bytes(fp, static_cast<int>(b), m.mode);
            // Only the persisting mode sets L2 aside, and only as much as its workspace.
            std::optional<PersistingL2SetAside> set_aside;
            if (m.mode == BlockWorkspace::reuse_persisting) set_aside.emplace(fb.workspace_bytes);
            ok(cudaMemsetAsync(y.ptr, 0xFF, M * N * 2, main_stream), "poison");  // NaNs
            Row row{m.name, prop.multiProcessorCount, prop.multiProcessorCount, static_cast<int>(b)};
            row.ms = timer.median_ms([&] { stl_forward_chunked(fb, static_cast<int>(b), m.mode); });
            ok(cudaStreamSynchronize(main_stream), "sync");
            row.rel_diff = relative_diff(y_ref.ptr, y.ptr, M * N);
            if (set_aside)
              row.variant += " (" + std::to_string(static_cast<int>(set_aside->bytes() >> 20)) + " MiB set aside)";
            rows.push_back(row);
          }
        }
      }
      for (const auto& part : partitions) {
        PipelineStreams ps;
        ps.gemm = part->gemm_stream(), ps.codec = part->codec_stream(), ps.gemm_cublas = gemm_handle;
        ps.gemm_sm_count = part->gemm_sms();
        pipelined("pipelined, SmPartition", ps, part->gemm_sms(), part->codec_sms());
        // Each side alone on its own SMs (the events order them after the flush on the main stream).
        sc::ForwardParams one = fp;
        one.y = y.ptr;
        PipelineStreams only = ps;
        only.chunks = 1;
        Row alone{"  one chunk (products, then codec, no overlap)", part->gemm_sms(), part->codec_sms(), 1};
        alone.ms = timer.median_ms([&] { stl_forward_pipelined(one, only); });
        rows.push_back(alone);
        sc::EncodeParams ep;
        ep.shape = s;
        ep.x = x.ptr;
        ep.enc_x = static_cast<const float*>(enc.ptr);
        ep.x_hat = work.ptr;
        ep.ld_x_hat = ws.ld_x_hat;
        ep.stride_x_hat = ws.stride_x_hat;
        ep.stream = part->codec_stream();
        Row enc_only{"  encode alone, codec SMs", 0, part->codec_sms(), 1};
        enc_only.ms = timer.median_ms([&] { on_stream(main_stream, ep.stream, [&] { sc::launch_encode(ep); }); });
        rows.push_back(enc_only);
        const double enc_bytes = 2.0 * (M * K + r * s.m() * s.k());
        std::printf("  encode on %d SMs: %.0f GB/s\n", part->codec_sms(), enc_bytes / (enc_only.ms * 1e6));
        sc::ProductsParams pp;
        pp.handle = gemm_handle;
        pp.batch = r, pp.m = s.m(), pp.k = s.k(), pp.n = s.n();
        pp.x_hat = work.ptr, pp.ld_x_hat = ws.ld_x_hat, pp.stride_x_hat = ws.stride_x_hat;
        pp.w_hat = w_hat.ptr;
        pp.z = static_cast<char*>(work.ptr) + ws.z_offset, pp.ld_z = ws.ld_z, pp.stride_z = ws.stride_z;
        pp.stream = part->gemm_stream();
        pp.sm_count = part->gemm_sms();
        Row gemm_only{"  products alone, gemm SMs", part->gemm_sms(), 0, 1};
        gemm_only.ms = timer.median_ms([&] { on_stream(main_stream, pp.stream, [&] { sc::launch_products(pp); }); });
        rows.push_back(gemm_only);
      }
      std::printf("\n%lld x %lld x %lld\n", static_cast<long long>(M), static_cast<long long>(K),
                  static_cast<long long>(N));
      const double base = rows.front().ms;
      for (const Row& row : rows) {
        std::printf("  %-62s gemm %3d codec %3d chunks %d  %8.3f ms  %6.1f TFLOP/s(dense eq)  %5.3fx  rel diff %.2e\n",
                    row.variant.c_str(), row.gemm_sms, row.codec_sms, row.chunks, row.ms, dense_equiv_tflops(row.ms),
                    base / row.ms, row.rel_diff);
        std::fprintf(json,
                     "%s{\"M\": %lld, \"K\": %lld, \"N\": %lld, \"variant\": \"%s\", \"gemm_sms\": %d, "
                     "\"codec_sms\": %d, \"chunks\": %d, \"ms\": %.4f, \"speedup_over_stl_forward\": %.3f, "
                     "\"y_rel_diff\": %.3e}",
                     first_json ? "" : ",\n", static_cast<long long>(M), static_cast<long long>(K),
                     static_cast<long long>(N), row.variant.c_str(), row.gemm_sms, row.codec_sms, row.chunks, row.ms,
                     base / row.ms, row.rel_diff);
        first_json = false;
      }
    }
    std::fprintf(json, "\n]}\n");
    std::fclose(json);
    partitions.clear();
    cublasDestroy(gemm_handle);
    cublasDestroy(handle);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_overlap: %s\n", e.what());
    return 1;
  }
  return 0;
}
