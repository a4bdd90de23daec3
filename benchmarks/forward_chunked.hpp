// An experiment (docs/PERFORMANCE.md, "Chunks in turn through an L2-sized workspace"): stl_forward over blocks of
// rows, one after another on one stream, every block reusing one small workspace. X̂ and Z of a block are then
// written and read back while they sit in the L2, instead of going to DRAM and back as whole-layer buffers do.
// Kept in benchmarks/ so that bench_overlap can repeat the measurement; not part of the library.
#pragma once

#include <cstddef>

#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::bench {

using strassentile::cuda::ForwardParams;

enum class BlockWorkspace {
  reuse,             // every block in the same place: a block's X̂ and Z overwrite the previous block's in the L2
  reuse_persisting,  // the same, with the stream's L2 access policy marking that place persisting, the rest
                     // streaming (as much as the device sets aside; reset on return)
  fresh,             // each block its own place, as if the layer's buffers were cut up: the chunking's cost alone
};

// While in scope, the device sets aside `wanted` bytes of L2 (at most what it can) for persisting accesses
// (BlockWorkspace::reuse_persisting needs it); on destruction, after the device is idle, the set-aside goes back to
// normal use. Everything else has that much less L2 meanwhile, so keep it no larger than the window.
class PersistingL2SetAside {
 public:
  explicit PersistingL2SetAside(std::size_t wanted);
  PersistingL2SetAside(const PersistingL2SetAside&) = delete;
  PersistingL2SetAside& operator=(const PersistingL2SetAside&) = delete;
  ~PersistingL2SetAside();
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_ = 0;
};

// Bytes of the workspace that stl_forward_chunked needs: its largest block's forward_workspace, times the number
// of blocks for BlockWorkspace::fresh.
std::size_t chunked_workspace_bytes(const ForwardParams& params, int chunks, BlockWorkspace mode);

// stl_forward in `chunks` blocks of whole row tiles (or whole sequences), in turn on params.stream. Y equals
// stl_forward's up to the products' kernel choice for the smaller GEMMs.
void stl_forward_chunked(const ForwardParams& params, int chunks, BlockWorkspace mode);

}  // namespace strassentile::bench
