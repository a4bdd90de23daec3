// run_tuned: see tuned_gemm.hpp.
#include "tuned_gemm.hpp"

#include <cublasLt.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "check.hpp"

namespace strassentile::cuda::detail {
namespace {

constexpr int kCandidates = 8;  // algorithms asked of the heuristic (it offered 8 for every STL shape measured)
constexpr int kTimedRuns = 3;   // per candidate, after one untimed run

struct DescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
};
struct LayoutDeleter {
  void operator()(cublasLtMatrixLayoutOpaque_t* l) const { cublasLtMatrixLayoutDestroy(l); }
};
struct PrefDeleter {
  void operator()(cublasLtMatmulPreferenceOpaque_t* p) const { cublasLtMatmulPreferenceDestroy(p); }
};
struct EventDeleter {
  void operator()(CUevent_st* e) const { cudaEventDestroy(e); }
};
using Desc = std::unique_ptr<cublasLtMatmulDescOpaque_t, DescDeleter>;
using Layout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter>;
using Pref = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, PrefDeleter>;
using Event = std::unique_ptr<CUevent_st, EventDeleter>;

// The descriptors of one problem and what won its timing: a cuBLASLt algorithm, or cuBLAS's own choice.
struct Plan {
  Desc op;
  Layout a, b, c;
  cublasLtMatmulAlgo_t algo{};
  bool cublas_default = false;
};

// Largest power of two (up to 256) dividing the address of every matrix of the batch.
std::int64_t alignment(const void* ptr, std::int64_t stride_bytes, std::int64_t batch) {
  std::uint64_t bits = reinterpret_cast<std::uintptr_t>(ptr) | 256u;
  if (batch > 1) bits |= static_cast<std::uint64_t>(stride_bytes);
  return static_cast<std::int64_t>(bits & (~bits + 1));
}

std::int64_t element_size(cudaDataType_t t) { return t == CUDA_R_32F ? 4 : 2; }

// What cuBLASLt may assume of the operands' addresses (it picks kernels by it, so it is part of the key).
struct Alignments {
  std::int64_t a, b, c;
};

Alignments alignments_of(const RowMajorGemm& g) {
  const std::int64_t ea = element_size(g.ab_type), ec = element_size(g.c_type);
  return {alignment(g.a, g.stride_a * ea, g.batch), alignment(g.b, g.stride_b * ea, g.batch),
          alignment(g.c, g.stride_c * ec, g.batch)};
}

using Key = std::array<std::int64_t, 18>;

Key key_of(const RowMajorGemm& g, int device, const Alignments& al) {
  return {device,     g.rows,    g.cols,  g.inner,    g.batch,   g.lda,   g.stride_a, g.trans_a, g.ldb,
          g.stride_b, g.trans_b, g.ldc,   g.stride_c, g.ab_type, g.c_type, al.a,       al.b,      al.c};
}

Layout make_layout(cudaDataType_t type, std::int64_t rows, std::int64_t cols, std::int64_t ld, std::int64_t batch,
                   std::int64_t stride) {
  cublasLtMatrixLayout_t raw = nullptr;
  check_cublas(cublasLtMatrixLayoutCreate(&raw, type, static_cast<std::uint64_t>(rows),
                                          static_cast<std::uint64_t>(cols), ld),
               "cublasLtMatrixLayoutCreate");
  Layout layout(raw);
  if (batch > 1) {
    const auto count = static_cast<std::int32_t>(batch);
    check_cublas(cublasLtMatrixLayoutSetAttribute(raw, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count),
                 "cublasLtMatrixLayoutSetAttribute");
    check_cublas(
        cublasLtMatrixLayoutSetAttribute(raw, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride),
        "cublasLtMatrixLayoutSetAttribute");
  }
  return layout;
}

// Column-major view, as in run_strided_batched: Cᵀ (cols × rows) = op(B)ᵀ · op(A)ᵀ.
Plan make_plan(const RowMajorGemm& g) {
  Plan plan;
  cublasLtMatmulDesc_t op = nullptr;
  check_cublas(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  plan.op.reset(op);
  const cublasOperation_t ta = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, tb = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_cublas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta),
               "cublasLtMatmulDescSetAttribute");
  check_cublas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb),
               "cublasLtMatmulDescSetAttribute");
  plan.a = g.trans_b ? make_layout(g.ab_type, g.inner, g.cols, g.ldb, g.batch, g.stride_b)
                     : make_layout(g.ab_type, g.cols, g.inner, g.ldb, g.batch, g.stride_b);
  plan.b = g.trans_a ? make_layout(g.ab_type, g.rows, g.inner, g.lda, g.batch, g.stride_a)
                     : make_layout(g.ab_type, g.inner, g.rows, g.lda, g.batch, g.stride_a);
  plan.c = make_layout(g.c_type, g.cols, g.rows, g.ldc, g.batch, g.stride_c);
  return plan;
}

cublasStatus_t run_plan(cublasLtHandle_t lt, const Plan& plan, const cublasLtMatmulAlgo_t& algo, const RowMajorGemm& g,
                        cudaStream_t stream) {
  const float alpha = 1.0f, beta = g.beta;
  return cublasLtMatmul(lt, plan.op.get(), &alpha, g.b, plan.a.get(), g.a, plan.b.get(), &beta, g.c, plan.c.get(), g.c,
                        plan.c.get(), &algo, nullptr, 0, stream);
}

// The heuristic's candidates for this problem, with no workspace and the operands' real alignment.
std::vector<cublasLtMatmulHeuristicResult_t> candidates(cublasLtHandle_t lt, const Plan& plan, const Alignments& al) {
  cublasLtMatmulPreference_t raw = nullptr;
  check_cublas(cublasLtMatmulPreferenceCreate(&raw), "cublasLtMatmulPreferenceCreate");
  const Pref pref(raw);
  const std::uint64_t no_workspace = 0;
  check_cublas(cublasLtMatmulPreferenceSetAttribute(raw, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &no_workspace,
                                                    sizeof no_workspace),
               "cublasLtMatmulPreferenceSetAttribute");
  const cublasLtMatmulPreferenceAttributes_t align_attr[] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  // Lt's A is our B and its B our A (the column-major view); C and D are both our C.
  const std::uint32_t align[] = {static_cast<std::uint32_t>(al.b), static_cast<std::uint32_t>(al.a),
                                 static_cast<std::uint32_t>(al.c), static_cast<std::uint32_t>(al.c)};
  for (int i = 0; i < 4; ++i)
    check_cublas(cublasLtMatmulPreferenceSetAttribute(raw, align_attr[i], &align[i], sizeof align[i]),
                 "cublasLtMatmulPreferenceSetAttribute");
  std::vector<cublasLtMatmulHeuristicResult_t> found(kCandidates);
  int returned = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(lt, plan.op.get(), plan.a.get(), plan.b.get(),
                                                               plan.c.get(), plan.c.get(), raw, kCandidates,
                                                               found.data(), &returned);
  if (status != CUBLAS_STATUS_SUCCESS) returned = 0;
  found.resize(static_cast<std::size_t>(std::max(returned, 0)));
  found.erase(std::remove_if(found.begin(), found.end(),
                             [](const cublasLtMatmulHeuristicResult_t& r) {
                               return r.state != CUBLAS_STATUS_SUCCESS || r.workspaceSize != 0;
                             }),
              found.end());
  return found;
}

// Milliseconds of kTimedRuns runs of `run` (a candidate) after an untimed one; negative when it fails.
template <class Run>
float time_candidate(const Run& run, cudaStream_t stream) {
  if (run() != CUBLAS_STATUS_SUCCESS) return -1.0f;
  cudaEvent_t start_raw = nullptr, stop_raw = nullptr;
  check_cuda(cudaEventCreate(&start_raw), "cudaEventCreate");
  const Event start(start_raw);
  check_cuda(cudaEventCreate(&stop_raw), "cudaEventCreate");
  const Event stop(stop_raw);
  check_cuda(cudaEventRecord(start_raw, stream), "cudaEventRecord");
  for (int i = 0; i < kTimedRuns; ++i)
    if (run() != CUBLAS_STATUS_SUCCESS) return -1.0f;
  check_cuda(cudaEventRecord(stop_raw, stream), "cudaEventRecord");
  check_cuda(cudaEventSynchronize(stop_raw), "cudaEventSynchronize");
  float ms = 0.0f;
  check_cuda(cudaEventElapsedTime(&ms, start_raw, stop_raw), "cudaEventElapsedTime");
  return ms;
}

struct Registry {
  std::mutex mutex;
  // One cuBLASLt handle per device, made on first use and deliberately never destroyed: a destructor at exit
  // could run after the CUDA runtime has shut down.
  std::array<cublasLtHandle_t, 64> handles{};
  std::map<Key, Plan> plans;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

bool run_tuned(cublasHandle_t handle, const RowMajorGemm& g, cudaStream_t stream) {
  const bool half = g.ab_type == CUDA_R_16BF || g.ab_type == CUDA_R_16F;
  const bool out_ok = g.c_type == g.ab_type || g.c_type == CUDA_R_32F;
  if (!half || !out_ok || g.batch < 1 || handle == nullptr) return false;
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  if (device < 0 || device >= 64) return false;
  const Alignments al = alignments_of(g);
  const Key key = key_of(g, device, al);
  const auto run_cublas = [&] { return run_strided_batched(handle, g); };

  Registry& reg = registry();
  const std::lock_guard<std::mutex> lock(reg.mutex);
  cublasLtHandle_t& lt = reg.handles[static_cast<std::size_t>(device)];
  if (lt == nullptr) check_cublas(cublasLtCreate(&lt), "cublasLtCreate");
  auto found = reg.plans.find(key);
  if (found == reg.plans.end()) {
    if (g.beta != 0.0f) return false;  // its timing runs would add into C again and again: tuned only at beta 0
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    check_cuda(cudaStreamIsCapturing(stream, &capture), "cudaStreamIsCapturing");
    if (capture != cudaStreamCaptureStatusNone) return false;  // no timing inside a graph: cuBLAS, nothing kept
    Plan plan = make_plan(g);
    // cuBLAS's own choice competes too: it may use split-K with its workspace, which the skinny GEMMs of the
    // coefficient gradients (r × 16 outputs over millions of tile positions) need and Lt's no-workspace
    // algorithms lack.
    float best_ms = time_candidate(run_cublas, stream);
    plan.cublas_default = true;
    for (const cublasLtMatmulHeuristicResult_t& candidate : candidates(lt, plan, al)) {
      const float ms = time_candidate([&] { return run_plan(lt, plan, candidate.algo, g, stream); }, stream);
      if (ms >= 0.0f && (best_ms < 0.0f || ms < best_ms)) best_ms = ms, plan.algo = candidate.algo, plan.cublas_default = false;
    }
    if (best_ms < 0.0f) return false;
    found = reg.plans.emplace(key, std::move(plan)).first;
  }
  const Plan& plan = found->second;
  if (plan.cublas_default)
    check_cublas(run_cublas(), "cublasGemmStridedBatchedEx");
  else
    check_cublas(run_plan(lt, plan, plan.algo, g, stream), "cublasLtMatmul");
  return true;
}

}  // namespace strassentile::cuda::detail
