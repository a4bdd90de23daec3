// `strassentile bench`: a dense cuBLAS layer against an STL layer of the same sizes on this machine's GPU, forward
// and forward+backward, bf16, tile <4,4,4> (bench/dense_vs_stl.cu). Built with STRASSENTILE_WITH_CUDA only
// (bench/CMakeLists.txt attaches it to the CLI).
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "bench_text.hpp"
#include "dense_vs_stl.hpp"

namespace strassentile::cli {
namespace {

using bench::BenchReport;
using bench::BenchRow;
using bench::LayerShape;
using bench::Timing;
using bench::cell;
using bench::fixed;
using bench::json_string;
using bench::json_timing;
using bench::parse_shapes;
using bench::shape_name;

// Square layers, transformer projections (K = N, and K = 4096 → N = 16384) and the LLaMA-7B MLP shapes at r = 24,
// and one shape at r = 48.
const char* const kDefaultShapes =
    "8192x8192x8192,16384x16384x16384,16384x4096x4096,16384x4096x16384,8192x2048x2048,8192x4096x4096,"
    "8192x4096x16384,8192x4096x11008,8192x11008x4096,16384x4096x4096:48";

void write_json(const std::string& path, const BenchReport& rep, const std::string& command) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  const bench::BenchEnv& e = rep.env;
  std::string s = "{\n";
  s += "  \"command\": " + json_string(command) + ",\n";
  s += bench::json_env_fields(e);
  s += "  \"dtype\": \"bf16\",\n  \"tile\": \"<4,4,4>\",\n";
  s += "  \"reps\": " + std::to_string(rep.options.reps) + ",\n  \"warmup\": " + std::to_string(rep.options.warmup) +
       ",\n  \"flush_bytes\": " + std::to_string(e.flush_bytes) + ",\n";
  s += "  \"methods\": {\n    \"dense\": " + json_string(bench::dense_description()) + ",\n    \"stl\": " +
       json_string(bench::stl_description()) + ",\n    \"timing\": " + json_string(bench::timing_description()) +
       "\n  },\n";
  s += "  \"results\": [\n";
  for (std::size_t i = 0; i < rep.rows.size(); ++i) {
    const BenchRow& r = rep.rows[i];
    s += "    {\"M\": " + std::to_string(r.shape.M) + ", \"K\": " + std::to_string(r.shape.K) +
         ", \"N\": " + std::to_string(r.shape.N) + ", \"rank\": " + std::to_string(r.shape.rank) + ",\n";
    s += "     \"dense_fwd_ms\": " + fixed(r.dense_fwd_ms, 4) + ", \"dense_fwd_bwd_ms\": " +
         fixed(r.dense_fwd_bwd_ms, 4) + ",\n";
    s += "     \"stl_fwd\": " + json_timing(r.stl_fwd, r.dense_fwd_ms) + ",\n";
    s += "     \"stl_fwd_bwd\": " + json_timing(r.stl_fwd_bwd, r.dense_fwd_bwd_ms) + "}";
    s += i + 1 < rep.rows.size() ? ",\n" : "\n";
  }
  s += "  ],\n  \"failures\": [";
  for (std::size_t i = 0; i < rep.failures.size(); ++i) s += (i ? ", " : "") + json_string(rep.failures[i]);
  s += "]\n}\n";
  std::fputs(s.c_str(), f);
  if (std::fclose(f) != 0) throw std::runtime_error("cannot write " + path);
}

std::string table(const BenchReport& rep) {
  const std::vector<std::string> head = {"MxKxN", "r", "dense fwd ms", "STL fwd", "dense fwd+bwd ms", "STL fwd+bwd"};
  std::vector<std::vector<std::string>> rows;
  for (const BenchRow& r : rep.rows)
    rows.push_back({shape_name(r.shape), std::to_string(r.shape.rank), fixed(r.dense_fwd_ms, 3),
                    cell(r.stl_fwd, r.dense_fwd_ms), fixed(r.dense_fwd_bwd_ms, 3),
                    cell(r.stl_fwd_bwd, r.dense_fwd_bwd_ms)});
  std::vector<std::size_t> width(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) {
    width[i] = head[i].size();
    for (const auto& row : rows) width[i] = row[i].size() > width[i] ? row[i].size() : width[i];
  }
  std::string out;
  const auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) out += cells[i] + std::string(width[i] - cells[i].size() + 2, ' ');
    out += "\n";
  };
  line(head);
  for (const auto& row : rows) line(row);
  return out;
}

}  // namespace

int run_bench(const std::vector<std::string>& argv) {
  const Args args(argv, {"shapes", "rank", "reps", "warmup", "json"}, {});
  if (!args.positionals().empty()) throw UsageError("unexpected argument '" + args.positionals()[0] + "'");
  bench::BenchOptions opt;
  const std::size_t rank = args.get_size("rank", 24);
  if (rank < 1 || rank > 1024) throw UsageError("--rank must be in 1..1024");
  opt.shapes = parse_shapes(args.get("shapes", kDefaultShapes), static_cast<int>(rank));
  const std::size_t reps = args.get_size("reps", 30), warmup = args.get_size("warmup", 5);
  if (reps < 1 || reps > 10000) throw UsageError("--reps must be in 1..10000");
  if (warmup > 1000) throw UsageError("--warmup must be at most 1000");
  opt.reps = static_cast<int>(reps);
  opt.warmup = static_cast<int>(warmup);
  std::string command = "strassentile bench";
  for (const std::string& a : argv) command += " " + a;

  const BenchReport rep =
      bench::run_dense_vs_stl(opt, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });

  const bench::BenchEnv& e = rep.env;
  std::printf("%s, %d SMs; bf16 <4,4,4>; median of %d reps after %d warm-ups, L2 evicted before each\n",
              e.device.c_str(), e.sm_count, opt.reps, opt.warmup);
  std::printf("STL cells: ms (dense ms / STL ms, above 1 is faster than dense); n/m = not measured\n\n");
  std::fputs(table(rep).c_str(), stdout);
  for (const BenchRow& r : rep.rows)
    for (const Timing* t : {&r.stl_fwd, &r.stl_fwd_bwd})
      if (!t->ok) std::printf("%s r=%d not measured: %s\n", shape_name(r.shape).c_str(), r.shape.rank,
                              t->why_not.c_str());
  for (const std::string& fail : rep.failures) std::printf("FAILED %s\n", fail.c_str());

  if (args.has("json")) write_json(args.get("json", ""), rep, command);
  return rep.failures.empty() ? 0 : 1;
}

}  // namespace strassentile::cli
