// stl_forward_pipelined: the forward pass in blocks of rows, products and encode/decode on two streams (an
// experiment: forward_pipelined.hpp).
//
// The products are compute-bound and the encode/decode memory-bound; one after the other, the encode and decode
// of 16384×4096×4096 (bf16, <4,4,4>, r = 24) take 0.21 of its 0.47 ms (docs/PERFORMANCE.md). Cut into chunks,
// the codec stream runs E0 E1 [G0] D0 E2 [G1] D1 … and the products' stream G0 G1 …, each Gc after Ec, so only
// the first encode and the last decode are not beside a GEMM.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "forward_pipelined.hpp"
#include "check.hpp"      // src/cuda
#include "launchers.hpp"  // src/cuda

namespace strassentile::bench {

using namespace strassentile::cuda;  // NOLINT(google-build-using-namespace): this file is the library's caller

namespace {

struct EventDeleter {
  void operator()(CUevent_st* e) const { cudaEventDestroy(e); }  // deferred by CUDA until the event completes
};
using Event = std::unique_ptr<CUevent_st, EventDeleter>;

Event make_event() {
  cudaEvent_t raw = nullptr;
  detail::check_cuda(cudaEventCreateWithFlags(&raw, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  return Event(raw);
}

void record(const Event& e, cudaStream_t stream) { detail::check_cuda(cudaEventRecord(e.get(), stream), "cudaEventRecord"); }
void wait(cudaStream_t stream, const Event& e) {
  detail::check_cuda(cudaStreamWaitEvent(stream, e.get(), 0), "cudaStreamWaitEvent");
}

// Rows [row0, row0 + rows) of the layer and their tile rows [m0, …): chunks hold whole sequences (seq_len > 0)
// or whole row tiles (one sequence), so that each one is an STL layer of its own with the same tiles.
struct Chunk {
  std::int64_t row0 = 0, rows = 0, m0 = 0;
};

std::vector<Chunk> chunks_of(const StlShape& s, int wanted) {
  const bool sequences = s.seq_len != 0;
  const std::int64_t unit_rows = sequences ? s.seq_len : s.a;
  const std::int64_t unit_m = sequences ? s.tiles_per_sequence() : 1;
  const std::int64_t units = sequences ? s.rows / s.seq_len : s.m();
  const std::int64_t count = std::max<std::int64_t>(1, std::min<std::int64_t>(wanted, units));
  std::vector<Chunk> out;
  for (std::int64_t c = 0; c < count; ++c) {
    const std::int64_t u0 = units * c / count, u1 = units * (c + 1) / count;
    Chunk ch;
    ch.row0 = u0 * unit_rows;
    ch.rows = std::min(s.rows, u1 * unit_rows) - ch.row0;  // the last row tile may be partial
    ch.m0 = u0 * unit_m;
    out.push_back(ch);
  }
  return out;
}

}  // namespace

void stl_forward_pipelined(const ForwardParams& p, const PipelineStreams& streams) {
  if (streams.chunks < 1)
    throw std::invalid_argument("stl_forward_pipelined: chunks must be >= 1, got " + std::to_string(streams.chunks));
  if (streams.gemm == nullptr || streams.codec == nullptr || streams.gemm == streams.codec)
    throw std::invalid_argument("stl_forward_pipelined: gemm and codec must be two distinct non-null streams "
                                "(an SmPartition's, or two cudaStreamCreate streams)");
  const ForwardWorkspace ws = forward_workspace(p.shape, p.dtype, p.z_f32);
  detail::check_workspace("stl_forward_pipelined", p.workspace, p.workspace_bytes, ws.bytes, "forward_workspace");
  const StlShape& s = p.shape;
  if (s.rows == 0) return stl_forward(p);  // nothing to overlap; stl_forward handles the empty case
  const std::size_t e = dtype_size(p.dtype), ez = p.z_f32 ? 4 : e;
  const std::int64_t ldx = p.ldx == 0 ? s.in_features : p.ldx, ldy = p.ldy == 0 ? s.out_features : p.ldy;
  char* x_hat = static_cast<char*>(p.workspace);
  char* z = x_hat + ws.z_offset;
  const std::vector<Chunk> chunks = chunks_of(s, streams.chunks);
  const std::size_t count = chunks.size();

  const Event forked = make_event();
  record(forked, p.stream);
  wait(streams.codec, forked);
  wait(streams.gemm, forked);
  std::vector<Event> encoded, multiplied;
  for (std::size_t c = 0; c < count; ++c) encoded.push_back(make_event()), multiplied.push_back(make_event());

  const auto encode = [&](std::size_t c) {
    const Chunk& ch = chunks[c];
    EncodeParams enc;
    enc.shape = s;
    enc.shape.rows = ch.rows;
    enc.dtype = p.dtype;
    enc.x = static_cast<const char*>(p.x) + static_cast<std::size_t>(ch.row0 * ldx) * e;
    enc.ldx = ldx;
    enc.enc_x = p.enc_x;
    enc.x_hat = x_hat + static_cast<std::size_t>(ch.m0 * ws.ld_x_hat) * e;
    enc.ld_x_hat = ws.ld_x_hat;
    enc.stride_x_hat = ws.stride_x_hat;
    enc.stream = streams.codec;
    enc.kernel = p.kernel;
    launch_encode(enc);
    record(encoded[c], streams.codec);
  };
  const auto multiply = [&](std::size_t c) {
    const Chunk& ch = chunks[c];
    StlShape part = s;
    part.rows = ch.rows;
    wait(streams.gemm, encoded[c]);
    ProductsParams prod;
    prod.handle = streams.gemm_cublas != nullptr ? streams.gemm_cublas : p.cublas;
    prod.dtype = p.dtype;
    prod.batch = s.rank;
    prod.m = part.m();
    prod.k = s.k();
    prod.n = s.n();
    prod.x_hat = x_hat + static_cast<std::size_t>(ch.m0 * ws.ld_x_hat) * e;
    prod.ld_x_hat = ws.ld_x_hat;
    prod.stride_x_hat = ws.stride_x_hat;
    prod.w_hat = p.w_hat;
    prod.ld_w_hat = p.ld_w_hat;
    prod.stride_w_hat = p.stride_w_hat;
    prod.z = z + static_cast<std::size_t>(ch.m0 * ws.ld_z) * ez;
    prod.ld_z = ws.ld_z;
    prod.stride_z = ws.stride_z;
    prod.stream = streams.gemm;
    prod.z_f32 = p.z_f32;
    prod.gemm = p.gemm;
    prod.sm_count = streams.gemm_sm_count;
    launch_products(prod);
    record(multiplied[c], streams.gemm);
  };
  const auto decode = [&](std::size_t c) {
    const Chunk& ch = chunks[c];
    wait(streams.codec, multiplied[c]);
    DecodeParams dec;
    dec.shape = s;
    dec.shape.rows = ch.rows;
    dec.dtype = p.dtype;
    dec.z = z + static_cast<std::size_t>(ch.m0 * ws.ld_z) * ez;
    dec.ld_z = ws.ld_z;
    dec.stride_z = ws.stride_z;
    dec.dec = p.dec;
    dec.bias = p.bias;
    dec.activation = p.activation;
    dec.y = static_cast<char*>(p.y) + static_cast<std::size_t>(ch.row0 * ldy) * e;
    dec.ldy = ldy;
    dec.stream = streams.codec;
    dec.kernel = p.kernel;
    dec.z_f32 = p.z_f32;
    launch_decode(dec);
  };

  // Codec stream: E0 E1 D0 E2 D1 … (each Dc waits for Gc); products' stream: G0 G1 … (each Gc waits for Ec).
  encode(0);
  for (std::size_t c = 0; c < count; ++c) {
    multiply(c);
    if (c + 1 < count) encode(c + 1);
    decode(c);
  }
  const Event codec_done = make_event(), gemm_done = make_event();
  record(codec_done, streams.codec);
  record(gemm_done, streams.gemm);
  wait(p.stream, codec_done);
  wait(p.stream, gemm_done);
}

}  // namespace strassentile::bench
