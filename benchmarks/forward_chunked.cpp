// stl_forward_chunked: stl_forward in blocks of rows through one small workspace (forward_chunked.hpp).
//
// At 16384×4096×4096 (bf16, <4,4,4>, r = 24) the whole-layer X̂ and Z are 192 MiB each; encode and decode move
// 640 MiB through DRAM and take 0.21 of the forward's 0.47 ms. In blocks of 1024–2048 rows, a block's X̂ and Z
// (12–24 MiB each) fit the H200's 60 MiB L2 together, so that only X and Y should cross DRAM.
#include <algorithm>
#include <optional>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "forward_chunked.hpp"
#include "check.hpp"  // src/cuda

namespace strassentile::bench {

using namespace strassentile::cuda;  // NOLINT(google-build-using-namespace): this file is the library's caller

namespace {

struct Block {
  std::int64_t row0 = 0, rows = 0;
};

// Blocks of whole sequences (seq_len > 0) or whole row tiles, so that each one is an STL layer with the same tiles.
std::vector<Block> blocks_of(const StlShape& s, int wanted) {
  const bool sequences = s.seq_len != 0;
  const std::int64_t unit_rows = sequences ? s.seq_len : s.a;
  const std::int64_t units = sequences ? s.rows / s.seq_len : s.m();
  const std::int64_t count = std::max<std::int64_t>(1, std::min<std::int64_t>(wanted, units));
  std::vector<Block> out;
  for (std::int64_t c = 0; c < count; ++c) {
    const std::int64_t u0 = units * c / count, u1 = units * (c + 1) / count;
    const std::int64_t row0 = u0 * unit_rows;
    out.push_back({row0, std::min(s.rows, u1 * unit_rows) - row0});  // the last row tile may be partial
  }
  return out;
}

StlShape block_shape(const StlShape& s, const Block& b) {
  StlShape part = s;
  part.rows = b.rows;
  return part;
}

// The stream's L2 access policy while it is in scope: [base, base + bytes) persisting, the rest streaming.
class PersistingWindow {
 public:
  PersistingWindow(cudaStream_t stream, void* base, std::size_t bytes) : stream_(stream) {
    int device = 0;
    detail::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
    cudaDeviceProp prop{};
    detail::check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    std::size_t set_aside = 0;
    detail::check_cuda(cudaDeviceGetLimit(&set_aside, cudaLimitPersistingL2CacheSize), "cudaDeviceGetLimit");
    if (set_aside == 0)
      throw std::logic_error("stl_forward_chunked: no L2 is set aside for persisting accesses (PersistingL2SetAside)");
    const std::size_t window = std::min(bytes, static_cast<std::size_t>(prop.accessPolicyMaxWindowSize));
    cudaStreamAttrValue attr{};
    attr.accessPolicyWindow.base_ptr = base;
    attr.accessPolicyWindow.num_bytes = window;
    // More window than set-aside: persist a fraction, so that the persisting lines do not evict each other.
    attr.accessPolicyWindow.hitRatio = std::min(1.0f, static_cast<float>(set_aside) / static_cast<float>(window));
    attr.accessPolicyWindow.hitProp = cudaAccessPropertyPersisting;
    attr.accessPolicyWindow.missProp = cudaAccessPropertyStreaming;
    detail::check_cuda(cudaStreamSetAttribute(stream_, cudaStreamAttributeAccessPolicyWindow, &attr),
                       "cudaStreamSetAttribute");
  }
  PersistingWindow(const PersistingWindow&) = delete;
  PersistingWindow& operator=(const PersistingWindow&) = delete;
  // Launches already enqueued keep the window they were launched with.
  ~PersistingWindow() {
    cudaStreamAttrValue attr{};  // num_bytes 0: no window
    cudaStreamSetAttribute(stream_, cudaStreamAttributeAccessPolicyWindow, &attr);
  }

 private:
  cudaStream_t stream_;
};

}  // namespace

namespace {

// The largest block's workspace, rounded to 256 bytes so that fresh blocks stay aligned.
std::size_t block_workspace_bytes(const ForwardParams& p, const std::vector<Block>& blocks) {
  std::size_t bytes = 0;
  for (const Block& b : blocks)
    bytes = std::max(bytes, forward_workspace(block_shape(p.shape, b), p.dtype, p.z_f32).bytes);
  return (bytes + 255) / 256 * 256;
}

}  // namespace

PersistingL2SetAside::PersistingL2SetAside(std::size_t wanted) {
  int device = 0;
  detail::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  cudaDeviceProp prop{};
  detail::check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  bytes_ = std::min(wanted, static_cast<std::size_t>(prop.persistingL2CacheMaxSize));
  detail::check_cuda(cudaDeviceSetLimit(cudaLimitPersistingL2CacheSize, bytes_), "cudaDeviceSetLimit");
}

PersistingL2SetAside::~PersistingL2SetAside() {
  cudaDeviceSynchronize();
  cudaCtxResetPersistingL2Cache();
  cudaDeviceSetLimit(cudaLimitPersistingL2CacheSize, 0);
}

std::size_t chunked_workspace_bytes(const ForwardParams& p, int chunks, BlockWorkspace mode) {
  const std::vector<Block> blocks = blocks_of(p.shape, chunks);
  return block_workspace_bytes(p, blocks) * (mode == BlockWorkspace::fresh ? blocks.size() : 1);
}

void stl_forward_chunked(const ForwardParams& p, int chunks, BlockWorkspace mode) {
  if (chunks < 1) throw std::invalid_argument("stl_forward_chunked: chunks must be >= 1, got " + std::to_string(chunks));
  const std::size_t needed = chunked_workspace_bytes(p, chunks, mode);
  if (p.workspace_bytes < needed)
    throw std::invalid_argument("stl_forward_chunked: workspace holds " + std::to_string(p.workspace_bytes) +
                                " bytes but " + std::to_string(needed) + " are needed (chunked_workspace_bytes)");
  if (p.shape.rows == 0) return stl_forward(p);
  const std::size_t e = dtype_size(p.dtype);
  const std::int64_t ldx = p.ldx == 0 ? p.shape.in_features : p.ldx;
  const std::int64_t ldy = p.ldy == 0 ? p.shape.out_features : p.ldy;
  const std::vector<Block> blocks = blocks_of(p.shape, chunks);
  const std::size_t block_bytes = block_workspace_bytes(p, blocks);
  std::optional<PersistingWindow> window;
  if (mode == BlockWorkspace::reuse_persisting) window.emplace(p.stream, p.workspace, needed);
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    ForwardParams part = p;
    part.shape = block_shape(p.shape, b);
    part.x = static_cast<const char*>(p.x) + static_cast<std::size_t>(b.row0 * ldx) * e;
    part.ldx = ldx;
    part.y = static_cast<char*>(p.y) + static_cast<std::size_t>(b.row0 * ldy) * e;
    part.ldy = ldy;
    if (mode == BlockWorkspace::fresh) part.workspace = static_cast<char*>(p.workspace) + i * block_bytes;
    part.workspace_bytes = block_bytes;
    stl_forward(part);
  }
}

}  // namespace strassentile::bench
