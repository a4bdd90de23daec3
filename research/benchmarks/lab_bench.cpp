// stl-lab-bench: dense cuBLAS, the naive three-step STL, our STL (with its kernel and GEMM variants) and 2:4 sparse
// (cuSPARSELt), forward and forward+backward, timed in one run on the GPU (stl_compare.cu). The user's
// `strassentile bench` times dense against our STL only; this is the lab's wider comparison.
//
//   stl-lab-bench [--shapes MxKxN[:r],...] [--rank 24] [--reps 30] [--warmup 5] [--json FILE] [--markdown FILE]
//                 [--no-sparse]
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_text.hpp"
#include "cli_args.hpp"
#include "stl_compare.hpp"

namespace strassentile::lab {
namespace {

using cli::Args;
using cli::UsageError;

using bench::CompareReport;
using bench::CompareRow;
using bench::CompareShape;
using bench::Measured;
using bench::cell;
using bench::fixed;
using bench::json_string;
using bench::json_timing;
using bench::shape_name;

// STL.md §3's shapes, issue 4's transformer shapes (M = 8192, K = N in {2048, 4096, 8192}, K = 4096 → N = 16384),
// the LLaMA-7B MLP shapes, and r = 48 at one shape.
const char* const kDefaultShapes =
    "8192x8192x8192,16384x16384x16384,16384x4096x4096,16384x4096x16384,8192x2048x2048,8192x4096x4096,"
    "8192x4096x16384,8192x4096x11008,8192x11008x4096,16384x4096x4096:48";

// "MxKxN[:r]" entries separated by commas, each side a multiple of 16.
std::vector<CompareShape> parse_shapes(const std::string& text, int default_rank) {
  std::vector<CompareShape> shapes = bench::parse_shapes(text, default_rank);
  for (const CompareShape& s : shapes)
    if (s.M < 16 || s.K < 16 || s.N < 16 || s.M % 16 || s.K % 16 || s.N % 16)
      throw UsageError("--shapes: M, K and N must be positive multiples of 16 (cuSPARSELt's and the naive "
                       "pipeline's granularity), got '" + bench::shape_name(s) + "'");
  return shapes;
}

std::string json_number(double v, int digits) { return v < 0 ? "null" : fixed(v, digits); }

double dense_tflops(const CompareRow& r) {
  return 2.0 * static_cast<double>(r.shape.M) * static_cast<double>(r.shape.K) * static_cast<double>(r.shape.N) /
         (r.dense_fwd_ms() * 1e9);
}

void write_json(const std::string& path, const CompareReport& rep, const std::string& command) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  const bench::CompareEnv& e = rep.env;
  std::string s = "{\n";
  s += "  \"command\": " + json_string(command) + ",\n";
  s += bench::json_env_fields(e);
  s += std::string("  \"cusparselt_built\": ") + (e.have_cusparselt ? "true" : "false") +
       ",\n  \"cusparselt\": " + std::to_string(e.cusparselt) + ",\n";
  s += "  \"dtype\": \"bf16\",\n  \"tile\": \"<4,4,4>\",\n";
  s += "  \"reps\": " + std::to_string(rep.options.reps) + ",\n  \"warmup\": " + std::to_string(rep.options.warmup) +
       ",\n  \"flush_bytes\": " + std::to_string(e.flush_bytes) + ",\n";
  s += "  \"methods\": {\n    \"dense\": " + json_string(bench::dense_description()) + ",\n    \"naive\": " +
       json_string(bench::naive_description()) + ",\n    \"stl\": " + json_string(bench::stl_description()) +
       ",\n    \"sparse_2_4\": " + json_string(bench::sparse_description()) + ",\n    \"timing\": " +
       json_string(bench::timing_description()) + "\n  },\n";
  s += "  \"results\": [\n";
  for (std::size_t i = 0; i < rep.rows.size(); ++i) {
    const CompareRow& r = rep.rows[i];
    const double df = r.dense_fwd_ms(), db = r.dense_fb_ms();
    s += "    {\"M\": " + std::to_string(r.shape.M) + ", \"K\": " + std::to_string(r.shape.K) +
         ", \"N\": " + std::to_string(r.shape.N) + ", \"rank\": " + std::to_string(r.shape.rank) +
         ", \"flop_ratio_abc_over_r\": " + fixed(64.0 / r.shape.rank, 4) + ",\n";
    s += "     \"dense_fwd_ms\": " + fixed(df, 4) + ", \"dense_fwd_first_ms\": " + fixed(r.dense_fwd_first_ms, 4) +
         ", \"dense_fwd_last_ms\": " + fixed(r.dense_fwd_last_ms, 4) + ", \"dense_fwd_tflops\": " +
         fixed(dense_tflops(r), 1) + ",\n";
    s += "     \"dense_fwd_bwd_ms\": " + fixed(db, 4) + ", \"dense_fwd_bwd_first_ms\": " +
         fixed(r.dense_fb_first_ms, 4) + ", \"dense_fwd_bwd_last_ms\": " + fixed(r.dense_fb_last_ms, 4) + ",\n";
    s += "     \"dense_cublaslt_tuned_fwd\": " + json_timing(r.dense_tuned_fwd, df) +
         ", \"dense_cublaslt_tuned_fwd_bwd\": " + json_timing(r.dense_tuned_fb, db) + ",\n";
    s += "     \"naive_fwd\": " + json_timing(r.naive_fwd, df) + ",\n";
    s += "     \"naive_fwd_bwd_x_w_hat\": " + json_timing(r.naive_fb, db) + ",\n";
    s += "     \"naive_fwd_bwd_all4\": " + json_timing(r.naive_fb_all, db) + ",\n";
    s += "     \"stl_fwd\": " + json_timing(r.stl_fwd, df) + ",\n";
    s += "     \"stl_fwd_bwd_x_w_hat\": " + json_timing(r.stl_fb, db) + ",\n";
    s += "     \"stl_fwd_bwd_all4\": " + json_timing(r.stl_fb_all, db) + ",\n";
    s += "     \"stl_fwd_bwd_x_w_hat_kept_x_hat_z\": " + json_timing(r.stl_kept_fb, db) + ",\n";
    s += "     \"stl_fwd_bwd_all4_kept_x_hat_z\": " + json_timing(r.stl_kept_fb_all, db) + ",\n";
    s += "     \"stl_generic_kernels_fwd\": " + json_timing(r.stl_generic_fwd, df) + ",\n";
    s += "     \"stl_cuda_core_codec_fwd\": " + json_timing(r.stl_cc_fwd, df) + ",\n";
    s += "     \"stl_cuda_core_codec_fwd_bwd_x_w_hat\": " + json_timing(r.stl_cc_fb, db) + ",\n";
    s += "     \"stl_cublas_default_gemm_fwd\": " + json_timing(r.stl_default_gemm_fwd, df) + ",\n";
    s += "     \"stl_cublas_default_gemm_fwd_bwd_x_w_hat\": " + json_timing(r.stl_default_gemm_fb, db) + ",\n";
    const auto mib = [](double b) { return b < 0 ? std::string("null") : fixed(b / (1 << 20), 1); };
    s += "     \"memory_above_inputs_mib\": {\"dense_fwd\": " + mib(r.mem.dense_fwd) + ", \"dense_fwd_bwd\": " +
         mib(r.mem.dense_fb) + ", \"naive_fwd\": " + mib(r.mem.naive_fwd) + ", \"naive_fwd_bwd_x_w_hat\": " +
         mib(r.mem.naive_fb) + ", \"stl_fwd\": " + mib(r.mem.stl_fwd) + ", \"stl_fwd_bwd_x_w_hat\": " +
         mib(r.mem.stl_fb) + ", \"stl_fwd_bwd_all4\": " + mib(r.mem.stl_fb_all) +
         ", \"stl_fwd_bwd_x_w_hat_kept_x_hat_z\": " + mib(r.mem.stl_kept_fb) +
         ", \"stl_fwd_bwd_all4_kept_x_hat_z\": " + mib(r.mem.stl_kept_fb_all) +
         ", \"sparse24\": null, \"how\": \"exact cudaMalloc sizes of outputs and workspaces (CompareRow::Memory)\"},\n";
    s += "     \"sparse24_fwd\": " + json_timing(r.sparse_fwd, df) + ",\n";
    s += "     \"sparse24_dx_alone\": " + json_timing(r.sparse_dx, df) + ",\n";
    s += "     \"sparse24_fwd_bwd\": " + json_timing(r.sparse_fb, db) + ",\n";
    s += "     \"sparse24_dx_method\": " + json_string(r.sparse_dx_method) + ",\n";
    s += "     \"checks_max_abs_diff_over_max_abs\": {\"naive_vs_stl_y\": " + json_number(r.naive_vs_stl_y, 6) +
         ", \"naive_vs_stl_dx\": " + json_number(r.naive_vs_stl_dx, 6) + ", \"sparse24_vs_cublas_pruned_y\": " +
         json_number(r.sparse_vs_cublas_y, 6) + ", \"sparse24_vs_cublas_pruned_dx\": " +
         json_number(r.sparse_vs_cublas_dx, 6) + ", \"stl_tensor_core_vs_cuda_core_y\": " + json_number(r.tc_vs_cc_y, 6) +
         ", \"stl_tensor_core_vs_cuda_core_dx\": " + json_number(r.tc_vs_cc_dx, 6) + "}}";
    s += i + 1 < rep.rows.size() ? ",\n" : "\n";
  }
  s += "  ],\n  \"failures\": [";
  for (std::size_t i = 0; i < rep.failures.size(); ++i) s += (i ? ", " : "") + json_string(rep.failures[i]);
  s += "]\n}\n";
  std::fputs(s.c_str(), f);
  if (std::fclose(f) != 0) throw std::runtime_error("cannot write " + path);
}

std::string main_table(const CompareReport& rep, bool markdown) {
  const std::vector<std::string> head = {"MxKxN",         "r",       "dense fwd ms",      "dense fwd+bwd ms",
                                         "naive fwd",     "naive fwd+bwd", "STL fwd",      "STL fwd+bwd (dX,dW^)",
                                         "STL fwd+bwd (all 4)", "STL fwd+bwd (dX,dW^), X^/Z kept",
                                         "STL fwd+bwd (all 4), X^/Z kept", "STL fwd, CUDA-core codec",
                                         "STL fwd+bwd, CUDA-core codec", "STL fwd, default GEMM",
                                         "STL fwd+bwd, default GEMM", "2:4 fwd", "2:4 fwd+bwd",
                                         "MiB above inputs: dense fwd / fwd+bwd", "STL fwd / fwd+bwd"};
  std::vector<std::vector<std::string>> rows;
  const auto mib = [](double b) { return b < 0 ? std::string("-") : fixed(b / (1 << 20), 0); };
  for (const CompareRow& r : rep.rows) {
    const double df = r.dense_fwd_ms(), db = r.dense_fb_ms();
    rows.push_back({shape_name(r.shape), std::to_string(r.shape.rank), fixed(df, 3), fixed(db, 3),
                    cell(r.naive_fwd, df), cell(r.naive_fb, db), cell(r.stl_fwd, df), cell(r.stl_fb, db),
                    cell(r.stl_fb_all, db), cell(r.stl_kept_fb, db), cell(r.stl_kept_fb_all, db),
                    cell(r.stl_cc_fwd, df), cell(r.stl_cc_fb, db),
                    cell(r.stl_default_gemm_fwd, df), cell(r.stl_default_gemm_fb, db), cell(r.sparse_fwd, df),
                    cell(r.sparse_fb, db), mib(r.mem.dense_fwd) + " / " + mib(r.mem.dense_fb),
                    mib(r.mem.stl_fwd) + " / " + mib(r.mem.stl_fb)});
  }
  std::string out;
  if (markdown) {
    for (const std::string& h : head) out += "| " + h + " ";
    out += "|\n";
    for (std::size_t i = 0; i < head.size(); ++i) out += "|---";
    out += "|\n";
    for (const auto& row : rows) {
      for (const std::string& c : row) out += "| " + c + " ";
      out += "|\n";
    }
    return out;
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) {
    width[i] = head[i].size();
    for (const auto& row : rows) width[i] = row[i].size() > width[i] ? row[i].size() : width[i];
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i)
      out += cells[i] + std::string(width[i] - cells[i].size() + 2, ' ');
    out += "\n";
  };
  line(head);
  for (const auto& row : rows) line(row);
  return out;
}

std::string check_pair(double a, double b) {
  const auto one = [](double v) { return v < 0 ? std::string("-") : fixed(v, 4); };
  return one(a) + " / " + one(b);
}

void write_markdown(const std::string& path, const CompareReport& rep, const std::string& command) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  const bench::CompareEnv& e = rep.env;
  std::string s = "# strassentile bench\n\n";
  s += "- Device: " + e.device + ", " + std::to_string(e.sm_count) + " SMs, L2 " +
       std::to_string(e.l2_bytes / (1 << 20)) + " MiB; CUDA runtime " + std::to_string(e.cuda_runtime) +
       ", driver " + std::to_string(e.cuda_driver) + ", cuBLAS " + std::to_string(e.cublas) + ", cuSPARSELt " +
       (e.cusparselt ? std::to_string(e.cusparselt) : std::string(e.have_cusparselt ? "(built, unused)" : "(absent)")) +
       "\n";
  s += "- bf16, tile <4,4,4>; median of " + std::to_string(rep.options.reps) + " repetitions after " +
       std::to_string(rep.options.warmup) + " warm-ups.\n";
  s += "- Command: `" + command + "`\n\n";
  s += "Cells: median ms (speedup over dense = dense ms / method ms; above 1 is faster than dense). Forward "
       "cells are against dense forward, fwd+bwd cells against dense fwd+bwd. n/m = not measured (see below).\n\n";
  s += main_table(rep, true);
  s += "\n## Details\n\n| MxKxN | r | dense TFLOP/s | dense fwd ms 1st / last / cuBLASLt tuned | "
       "dense fwd+bwd ms 1st / last / cuBLASLt tuned | naive fwd+bwd (all 4) | STL fwd, generic kernels | "
       "2:4 dX alone | naive vs ours Y / dX | 2:4 vs cuBLAS (pruned W) Y / dX |\n"
       "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const CompareRow& r : rep.rows) {
    s += "| " + shape_name(r.shape) + " | " + std::to_string(r.shape.rank) + " | " + fixed(dense_tflops(r), 0) +
         " | " + fixed(r.dense_fwd_first_ms, 3) + " / " + fixed(r.dense_fwd_last_ms, 3) + " / " +
         (r.dense_tuned_fwd.ok ? fixed(r.dense_tuned_fwd.ms, 3) : "n/m") + " | " + fixed(r.dense_fb_first_ms, 3) +
         " / " + fixed(r.dense_fb_last_ms, 3) + " / " + (r.dense_tuned_fb.ok ? fixed(r.dense_tuned_fb.ms, 3) : "n/m") +
         " | " +
         cell(r.naive_fb_all, r.dense_fb_ms()) + " | " + cell(r.stl_generic_fwd, r.dense_fwd_ms()) + " | " +
         cell(r.sparse_dx, r.dense_fwd_ms()) + " | " + check_pair(r.naive_vs_stl_y, r.naive_vs_stl_dx) + " | " +
         check_pair(r.sparse_vs_cublas_y, r.sparse_vs_cublas_dx) + " |\n";
  }
  s += "\nMemory above the inputs (MiB; exact cudaMalloc sizes of each pipeline's outputs and workspaces, cuBLAS's "
       "32 MiB workspace excluded; 2:4 not accounted):\n\n| MxKxN | r | dense fwd | dense fwd+bwd | naive fwd | "
       "naive fwd+bwd | STL fwd | STL fwd+bwd (dX,dW^) | STL fwd+bwd (all 4) | tensor-core vs CUDA-core Y / dX |\n"
       "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const CompareRow& r : rep.rows) {
    const auto mib = [](double b) { return b < 0 ? std::string("-") : fixed(b / (1 << 20), 0); };
    s += "| " + shape_name(r.shape) + " | " + std::to_string(r.shape.rank) + " | " + mib(r.mem.dense_fwd) + " | " +
         mib(r.mem.dense_fb) + " | " + mib(r.mem.naive_fwd) + " | " + mib(r.mem.naive_fb) + " | " +
         mib(r.mem.stl_fwd) + " | " + mib(r.mem.stl_fb) + " | " + mib(r.mem.stl_fb_all) + " | " +
         check_pair(r.tc_vs_cc_y, r.tc_vs_cc_dx) + " |\n";
  }
  s += "\nChecks are max |a − b| / max |b| over the whole output (bf16). The naive pipeline rounds E_X and D to "
       "bf16 and keeps bf16 intermediates, ours keeps them in fp32: the two agree to bf16 precision, not bit "
       "for bit. 2:4 is checked against cuBLAS with the same pruned weights.\n";

  std::string missing;
  const auto note = [&](const CompareRow& r, const char* what, const Measured& m) {
    if (!m.ok) missing += "- " + shape_name(r.shape) + " r=" + std::to_string(r.shape.rank) + ", " + what + ": " +
                          m.why_not + "\n";
  };
  for (const CompareRow& r : rep.rows) {
    note(r, "naive fwd", r.naive_fwd);
    note(r, "naive fwd+bwd", r.naive_fb);
    note(r, "naive fwd+bwd (all 4)", r.naive_fb_all);
    note(r, "STL fwd", r.stl_fwd);
    note(r, "STL fwd+bwd", r.stl_fb);
    note(r, "STL fwd+bwd (all 4)", r.stl_fb_all);
    note(r, "STL fwd+bwd, X^/Z kept", r.stl_kept_fb);
    note(r, "STL fwd+bwd (all 4), X^/Z kept", r.stl_kept_fb_all);
    note(r, "STL fwd, generic kernels", r.stl_generic_fwd);
    note(r, "STL fwd, CUDA-core codec", r.stl_cc_fwd);
    note(r, "STL fwd+bwd, CUDA-core codec", r.stl_cc_fb);
    note(r, "STL fwd, default GEMM", r.stl_default_gemm_fwd);
    note(r, "STL fwd+bwd, default GEMM", r.stl_default_gemm_fb);
    note(r, "dense fwd, cuBLASLt tuned", r.dense_tuned_fwd);
    note(r, "dense fwd+bwd, cuBLASLt tuned", r.dense_tuned_fb);
    note(r, "2:4 fwd", r.sparse_fwd);
    note(r, "2:4 dX", r.sparse_dx);
    note(r, "2:4 fwd+bwd", r.sparse_fb);
  }
  for (const std::string& fail : rep.failures) missing += "- whole shape failed: " + fail + "\n";
  s += "\n## Not measured\n\n" + (missing.empty() ? std::string("Everything was measured.\n") : missing);
  std::string dx_methods;
  for (const CompareRow& r : rep.rows)
    if (!r.sparse_dx_method.empty())
      dx_methods += "- " + shape_name(r.shape) + ": " + r.sparse_dx_method + "\n";
  if (!dx_methods.empty()) s += "\n2:4 dX computed by:\n\n" + dx_methods;
  s += "\n## Methods\n\n- **dense**: " + std::string(bench::dense_description()) + "\n- **naive**: " +
       bench::naive_description() + "\n- **STL**: " + bench::stl_description() + "\n- **2:4**: " +
       bench::sparse_description() + "\n- **timing**: " + bench::timing_description() + "\n";
  std::fputs(s.c_str(), f);
  if (std::fclose(f) != 0) throw std::runtime_error("cannot write " + path);
}

int run_lab_bench(const std::vector<std::string>& argv) {
  const Args args(argv, {"shapes", "rank", "reps", "warmup", "json", "markdown"}, {"no-sparse"});
  if (!args.positionals().empty()) throw UsageError("unexpected argument '" + args.positionals()[0] + "'");
  bench::CompareOptions opt;
  const std::size_t rank = args.get_size("rank", 24);
  if (rank < 1 || rank > 1024) throw UsageError("--rank must be in 1..1024");
  opt.shapes = parse_shapes(args.get("shapes", kDefaultShapes), static_cast<int>(rank));
  const std::size_t reps = args.get_size("reps", 30), warmup = args.get_size("warmup", 5);
  if (reps < 1 || reps > 10000) throw UsageError("--reps must be in 1..10000");
  if (warmup > 1000) throw UsageError("--warmup must be at most 1000");
  opt.reps = static_cast<int>(reps);
  opt.warmup = static_cast<int>(warmup);
  opt.sparse = !args.has("no-sparse");
  std::string command = "stl-lab-bench";
  for (const std::string& a : argv) command += " " + a;

  const CompareReport rep =
      bench::run_compare(opt, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });

  const bench::CompareEnv& e = rep.env;
  std::printf("%s, %d SMs; bf16 <4,4,4>; median of %d reps after %d warm-ups, L2 evicted before each\n",
              e.device.c_str(), e.sm_count, opt.reps, opt.warmup);
  std::printf("cells: ms (dense ms / method ms); fwd vs dense fwd, fwd+bwd vs dense fwd+bwd; n/m = not measured\n\n");
  std::fputs(main_table(rep, false).c_str(), stdout);
  std::printf("\n%s\n\n%s\n", bench::naive_description(), bench::sparse_description());
  for (const CompareRow& r : rep.rows) {
    std::printf("%s r=%d: naive vs ours Y/dX %s; 2:4 vs cuBLAS Y/dX %s; tensor-core vs CUDA-core Y/dX %s\n",
                shape_name(r.shape).c_str(), r.shape.rank, check_pair(r.naive_vs_stl_y, r.naive_vs_stl_dx).c_str(),
                check_pair(r.sparse_vs_cublas_y, r.sparse_vs_cublas_dx).c_str(),
                check_pair(r.tc_vs_cc_y, r.tc_vs_cc_dx).c_str());
    if (!r.sparse_fwd.ok) std::printf("  2:4 not measured: %s\n", r.sparse_fwd.why_not.c_str());
    else if (!r.sparse_fb.ok) std::printf("  2:4 fwd+bwd not measured: %s\n", r.sparse_fb.why_not.c_str());
  }
  for (const std::string& fail : rep.failures) std::printf("FAILED %s\n", fail.c_str());

  if (args.has("json")) write_json(args.get("json", ""), rep, command);
  if (args.has("markdown")) write_markdown(args.get("markdown", ""), rep, command);
  return rep.failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace strassentile::lab

int main(int argc, char** argv) {
  try {
    return strassentile::lab::run_lab_bench(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const strassentile::cli::UsageError& e) {
    std::fprintf(stderr, "stl-lab-bench: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stl-lab-bench: %s\n", e.what());
    return 1;
  }
}
