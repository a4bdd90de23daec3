// Sparse24Linear on cuSPARSELt (see the header). Layouts as cuSPARSELt sees them (A is the sparse operand,
// D = op(A)·op(B), C = D), with Wt = Wᵀ stored N×K row-major:
//   forward   Yᵀ = Wt·Xᵀ: A = Wt (pruned along K), B = X described as M×K row-major with opB = T, D = N×M
//             column-major, which is Y (M×N) row-major. This is the configuration of PyTorch's
//             semi-structured linear (_cslt_sparse_mm with transpose_result).
//   backward  dXᵀ = Wtᵀ·dYᵀ: opA = T on the same pruned Wt, B = dY (M×N row-major, opB = T), D = K×M
//             column-major, which is dX (M×K) row-major. If cuSPARSELt refuses the transposed sparse operand,
//             the pruned weights are materialised as K×N row-major and used with opA = N instead.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cusparseLt.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "sparse24_cusparselt.hpp"

namespace strassentile::bench {
namespace {

void check(cusparseStatus_t status, const char* call) {
  if (status != CUSPARSE_STATUS_SUCCESS)
    throw std::runtime_error(std::string(call) + ": " + cusparseLtGetErrorName(status) + " (" +
                             cusparseLtGetErrorString(status) + ")");
}

void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(call) + ": " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) +
                             ")");
}

class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(std::size_t bytes) {
    if (bytes > 0) check(cudaMalloc(&ptr_, bytes), "cudaMalloc");
  }
  ~DeviceMemory() { cudaFree(ptr_); }
  DeviceMemory(DeviceMemory&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
  DeviceMemory& operator=(DeviceMemory&& other) noexcept {
    std::swap(ptr_, other.ptr_);
    return *this;
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

// cuSPARSELt's opaque structs are initialised in place and may not be copied or moved: every wrapper below
// is non-copyable and non-movable, and composite objects hold them as members constructed in order.
class Handle {
 public:
  Handle() { check(cusparseLtInit(&h_), "cusparseLtInit"); }
  ~Handle() { cusparseLtDestroy(&h_); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  const cusparseLtHandle_t* get() const { return &h_; }

 private:
  cusparseLtHandle_t h_{};
};

struct MatrixSpec {
  std::int64_t rows, cols, ld;
  cusparseOrder_t order;
};

class MatrixDesc {
 public:
  MatrixDesc(const Handle& h, const MatrixSpec& s, bool structured) {
    if (structured)
      check(cusparseLtStructuredDescriptorInit(h.get(), &d_, s.rows, s.cols, s.ld, 16, CUDA_R_16BF, s.order,
                                               CUSPARSELT_SPARSITY_50_PERCENT),
            "cusparseLtStructuredDescriptorInit");
    else
      check(cusparseLtDenseDescriptorInit(h.get(), &d_, s.rows, s.cols, s.ld, 16, CUDA_R_16BF, s.order),
            "cusparseLtDenseDescriptorInit");
  }
  ~MatrixDesc() { cusparseLtMatDescriptorDestroy(&d_); }
  MatrixDesc(const MatrixDesc&) = delete;
  MatrixDesc& operator=(const MatrixDesc&) = delete;
  const cusparseLtMatDescriptor_t* get() const { return &d_; }

 private:
  cusparseLtMatDescriptor_t d_{};
};

class MatmulDesc {  // the API has no destroy function for it
 public:
  MatmulDesc(const Handle& h, cusparseOperation_t op_a, cusparseOperation_t op_b, const MatrixDesc& a,
             const MatrixDesc& b, const MatrixDesc& c) {
    check(cusparseLtMatmulDescriptorInit(h.get(), &d_, op_a, op_b, a.get(), b.get(), c.get(), c.get(),
                                         CUSPARSE_COMPUTE_32F),
          "cusparseLtMatmulDescriptorInit");
  }
  MatmulDesc(const MatmulDesc&) = delete;
  MatmulDesc& operator=(const MatmulDesc&) = delete;
  const cusparseLtMatmulDescriptor_t* get() const { return &d_; }

 private:
  cusparseLtMatmulDescriptor_t d_{};
};

class AlgSelection {
 public:
  AlgSelection(const Handle& h, const MatmulDesc& m) {
    check(cusparseLtMatmulAlgSelectionInit(h.get(), &d_, m.get(), CUSPARSELT_MATMUL_ALG_DEFAULT),
          "cusparseLtMatmulAlgSelectionInit");
  }
  ~AlgSelection() { cusparseLtMatmulAlgSelectionDestroy(&d_); }
  AlgSelection(const AlgSelection&) = delete;
  AlgSelection& operator=(const AlgSelection&) = delete;
  const cusparseLtMatmulAlgSelection_t* get() const { return &d_; }

 private:
  cusparseLtMatmulAlgSelection_t d_{};
};

class Plan {
 public:
  Plan(const Handle& h, const MatmulDesc& m, const AlgSelection& a) {
    check(cusparseLtMatmulPlanInit(h.get(), &d_, m.get(), a.get()), "cusparseLtMatmulPlanInit");
  }
  ~Plan() { cusparseLtMatmulPlanDestroy(&d_); }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  cusparseLtMatmulPlan_t* get() { return &d_; }
  const cusparseLtMatmulPlan_t* get() const { return &d_; }

 private:
  cusparseLtMatmulPlan_t d_{};
};

// One sparse product D = op(A)·op(B) with A 2:4: descriptors, plan, the compressed A and a workspace.
class SparseProduct {
 public:
  SparseProduct(const Handle& h, const MatrixSpec& a, cusparseOperation_t op_a, const MatrixSpec& b,
                cusparseOperation_t op_b, const MatrixSpec& d)
      : h_(h),
        a_(h, a, true),
        b_(h, b, false),
        d_(h, d, false),
        matmul_(h, op_a, op_b, a_, b_, d_),
        alg_(h, matmul_),
        plan_(h, matmul_, alg_) {}

  // In-place pruning of the dense A for this product's reduction dimension.
  void prune(void* a_dense, cusparseLtPruneAlg_t alg, cudaStream_t stream) const {
    check(cusparseLtSpMMAPrune(h_.get(), matmul_.get(), a_dense, a_dense, alg, stream), "cusparseLtSpMMAPrune");
  }

  // Checks that the pruned dense A is 2:4 along this product's reduction dimension, compresses it, and lets
  // cuSPARSELt time its kernel configurations on (b, d) to keep the fastest. Synchronises the stream.
  void prepare(const void* a_dense, const void* b, void* d, cudaStream_t stream) {
    DeviceMemory valid(sizeof(int));
    // Cleared first: read from an uncleared allocation, the flag said "invalid" for every freshly pruned
    // matrix (H200, cuSPARSELt 0.8.0); cleared, every check passed and the products matched cuBLAS.
    check(cudaMemsetAsync(valid.get(), 0, sizeof(int), stream), "cudaMemsetAsync");
    check(cusparseLtSpMMAPruneCheck(h_.get(), matmul_.get(), a_dense, static_cast<int*>(valid.get()), stream),
          "cusparseLtSpMMAPruneCheck");
    int is_invalid = 1;
    check(cudaMemcpyAsync(&is_invalid, valid.get(), sizeof(int), cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    if (is_invalid != 0)
      throw std::runtime_error("cusparseLtSpMMAPruneCheck: the pruned weights are not 2:4 along this product's "
                               "reduction dimension");

    std::size_t compressed_bytes = 0, buffer_bytes = 0;
    check(cusparseLtSpMMACompressedSize(h_.get(), plan_.get(), &compressed_bytes, &buffer_bytes),
          "cusparseLtSpMMACompressedSize");
    compressed_ = DeviceMemory(compressed_bytes);
    DeviceMemory buffer(buffer_bytes);
    check(cusparseLtSpMMACompress(h_.get(), plan_.get(), a_dense, compressed_.get(), buffer.get(), stream),
          "cusparseLtSpMMACompress");

    std::size_t ws = 0;
    check(cusparseLtMatmulGetWorkspace(h_.get(), plan_.get(), &ws), "cusparseLtMatmulGetWorkspace");
    workspace_ = DeviceMemory(ws);
    const float alpha = 1.0f, beta = 0.0f;
    cudaStream_t streams[1] = {stream};
    check(cusparseLtMatmulSearch(h_.get(), plan_.get(), &alpha, compressed_.get(), b, &beta, d, d, workspace_.get(),
                                 streams, 1),
          "cusparseLtMatmulSearch");
    std::size_t ws_after = 0;  // the configuration chosen (split-K, say) may need more
    check(cusparseLtMatmulGetWorkspace(h_.get(), plan_.get(), &ws_after), "cusparseLtMatmulGetWorkspace");
    if (ws_after > ws) workspace_ = DeviceMemory(ws_after);
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  }

  void run(const void* b, void* d, cudaStream_t stream) const {
    const float alpha = 1.0f, beta = 0.0f;
    cudaStream_t streams[1] = {stream};
    check(cusparseLtMatmul(h_.get(), plan_.get(), &alpha, compressed_.get(), b, &beta, d, d, workspace_.get(), streams,
                           1),
          "cusparseLtMatmul");
  }

 private:
  const Handle& h_;
  MatrixDesc a_, b_, d_;
  MatmulDesc matmul_;
  AlgSelection alg_;
  Plan plan_;
  DeviceMemory compressed_, workspace_;
};

// out (cols×rows) = inᵀ, in rows×cols, both row-major bf16. One-time setup work, so a plain kernel.
__global__ void transpose_bf16(const __nv_bfloat16* __restrict__ in, __nv_bfloat16* __restrict__ out,
                               std::int64_t rows, std::int64_t cols) {
  const std::int64_t total = rows * cols;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = t / cols, c = t % cols;
    out[c * rows + r] = in[t];
  }
}

void transpose(const void* in, void* out, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  transpose_bf16<<<4096, 256, 0, stream>>>(static_cast<const __nv_bfloat16*>(in), static_cast<__nv_bfloat16*>(out),
                                           rows, cols);
  check(cudaGetLastError(), "transpose_bf16");
}

}  // namespace

struct Sparse24Linear::Impl {
  std::int64_t M, K, N;
  cudaStream_t stream;
  Handle handle;
  DeviceMemory wt;   // pruned weights, N×K row-major (the forward's A)
  DeviceMemory w24;  // the same, K×N row-major
  std::unique_ptr<SparseProduct> fwd, bwd;
  std::string bwd_method;
  int version = 0;

  Impl(std::int64_t m, std::int64_t k, std::int64_t n, cudaStream_t s)
      : M(m),
        K(k),
        N(n),
        stream(s),
        wt(static_cast<std::size_t>(k * n) * sizeof(__nv_bfloat16)),
        w24(static_cast<std::size_t>(k * n) * sizeof(__nv_bfloat16)) {}
};

Sparse24Linear::Sparse24Linear(std::int64_t rows, std::int64_t in_features, std::int64_t out_features, const void* w,
                               const void* x, const void* dy, cudaStream_t stream)
    : impl_(std::make_unique<Impl>(rows, in_features, out_features, stream)) {
  Impl& p = *impl_;
  const std::int64_t M = rows, K = in_features, N = out_features;
  if (M <= 0 || K <= 0 || N <= 0) throw std::invalid_argument("Sparse24Linear: sizes must be positive");
  check(cusparseLtGetVersion(p.handle.get(), &p.version), "cusparseLtGetVersion");

  const MatrixSpec wt_spec{N, K, K, CUSPARSE_ORDER_ROW};
  p.fwd = std::make_unique<SparseProduct>(p.handle, wt_spec, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                          MatrixSpec{M, K, K, CUSPARSE_ORDER_ROW}, CUSPARSE_OPERATION_TRANSPOSE,
                                          MatrixSpec{N, M, N, CUSPARSE_ORDER_COL});
  DeviceMemory out(static_cast<std::size_t>(M * (K > N ? K : N)) * 2);  // the searches' results, discarded
  std::string prune_note;
  transpose(w, p.wt.get(), K, N, stream);
  p.fwd->prune(p.wt.get(), CUSPARSELT_PRUNE_SPMMA_TILE, stream);
  try {
    p.fwd->prepare(p.wt.get(), x, out.get(), stream);
  } catch (const std::runtime_error& e) {
    // TILE's result rejected: STRIP prunes along K only (then the transpose is not 2:4 and dX has no sparse path).
    prune_note = std::string("TILE pruning rejected (") + e.what() + "), pruned with STRIP instead; ";
    transpose(w, p.wt.get(), K, N, stream);
    p.fwd->prune(p.wt.get(), CUSPARSELT_PRUNE_SPMMA_STRIP, stream);
    p.fwd->prepare(p.wt.get(), x, out.get(), stream);
  }
  transpose(p.wt.get(), p.w24.get(), N, K, stream);

  const MatrixSpec dy_spec{M, N, N, CUSPARSE_ORDER_ROW}, dx_spec{K, M, K, CUSPARSE_ORDER_COL};
  std::string first_error;
  try {
    p.bwd = std::make_unique<SparseProduct>(p.handle, wt_spec, CUSPARSE_OPERATION_TRANSPOSE, dy_spec,
                                            CUSPARSE_OPERATION_TRANSPOSE, dx_spec);
    p.bwd->prepare(p.wt.get(), dy, out.get(), stream);
    p.bwd_method = "cusparseLtMatmul with the sparse operand transposed (opA = T on the forward's pruned N×K weights)";
  } catch (const std::runtime_error& e) {
    p.bwd.reset();
    first_error = e.what();
  }
  if (!p.bwd) {
    try {
      p.bwd = std::make_unique<SparseProduct>(p.handle, MatrixSpec{K, N, N, CUSPARSE_ORDER_ROW},
                                              CUSPARSE_OPERATION_NON_TRANSPOSE, dy_spec, CUSPARSE_OPERATION_TRANSPOSE,
                                              dx_spec);
      p.bwd->prepare(p.w24.get(), dy, out.get(), stream);
      p.bwd_method = "cusparseLtMatmul on a second copy of the pruned weights stored transposed (K×N, opA = N); "
                     "opA = T failed: " + first_error;
    } catch (const std::runtime_error& e) {
      p.bwd.reset();
      p.bwd_method = "not available: opA = T failed (" + first_error + "); the transposed copy failed (" + e.what() +
                     ")";
    }
  }
  p.bwd_method = prune_note + p.bwd_method;
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
}

Sparse24Linear::~Sparse24Linear() = default;

void Sparse24Linear::forward(const void* x, void* y) const { impl_->fwd->run(x, y, impl_->stream); }

bool Sparse24Linear::has_backward() const { return impl_->bwd != nullptr; }

void Sparse24Linear::backward_input(const void* dy, void* dx) const {
  if (!impl_->bwd) throw std::logic_error("Sparse24Linear::backward_input: " + impl_->bwd_method);
  impl_->bwd->run(dy, dx, impl_->stream);
}

const std::string& Sparse24Linear::backward_method() const { return impl_->bwd_method; }

const void* Sparse24Linear::pruned_weight() const { return impl_->w24.get(); }

int Sparse24Linear::library_version() const { return impl_->version; }

}  // namespace strassentile::bench
