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
#include "dense_vs_stl.hpp"

namespace strassentile::cli {
namespace {

using bench::BenchReport;
using bench::BenchRow;
using bench::LayerShape;
using bench::Timing;

// Square layers, transformer projections (K = N, and K = 4096 → N = 16384) and the LLaMA-7B MLP shapes at r = 24,
// and one shape at r = 48.
const char* const kDefaultShapes =
    "8192x8192x8192,16384x16384x16384,16384x4096x4096,16384x4096x16384,8192x2048x2048,8192x4096x4096,"
    "8192x4096x16384,8192x4096x11008,8192x11008x4096,16384x4096x4096:48";

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  while (true) {
    const std::string::size_type at = text.find(sep, start);
    parts.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

// "MxKxN[:r]" entries separated by commas.
std::vector<LayerShape> parse_shapes(const std::string& text, int default_rank) {
  std::vector<LayerShape> shapes;
  for (const std::string& item : split(text, ',')) {
    const std::vector<std::string> rank_split = split(item, ':');
    const std::vector<std::string> dims = split(rank_split[0], 'x');
    if (dims.size() != 3 || rank_split.size() > 2)
      throw UsageError("--shapes: expected MxKxN or MxKxN:r, got '" + item + "'");
    LayerShape s;
    s.M = static_cast<std::int64_t>(Args::to_size("M in --shapes", dims[0]));
    s.K = static_cast<std::int64_t>(Args::to_size("K in --shapes", dims[1]));
    s.N = static_cast<std::int64_t>(Args::to_size("N in --shapes", dims[2]));
    s.rank = rank_split.size() == 2 ? static_cast<int>(Args::to_size("r in --shapes", rank_split[1])) : default_rank;
    if (s.M < 1 || s.K < 1 || s.N < 1) throw UsageError("--shapes: M, K and N must be positive, got '" + item + "'");
    if (s.rank < 1 || s.rank > 1024) throw UsageError("--shapes: r must be in 1..1024, got '" + item + "'");
    shapes.push_back(s);
  }
  return shapes;
}

std::string shape_name(const LayerShape& s) {
  return std::to_string(s.M) + "x" + std::to_string(s.K) + "x" + std::to_string(s.N);
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// "ms (speedup×)" for a table cell; speedup = dense / STL.
std::string cell(const Timing& t, double dense_ms) {
  if (!t.ok) return "n/m";
  return fixed(t.ms, 3) + " (" + fixed(dense_ms / t.ms, 2) + "x)";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string json_timing(const Timing& t, double dense_ms) {
  if (!t.ok) return "{\"ms\": null, \"not_measured\": " + json_string(t.why_not) + "}";
  return "{\"ms\": " + fixed(t.ms, 4) + ", \"speedup_over_dense\": " + fixed(dense_ms / t.ms, 3) + "}";
}

void write_json(const std::string& path, const BenchReport& rep, const std::string& command) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  const bench::BenchEnv& e = rep.env;
  std::string s = "{\n";
  s += "  \"command\": " + json_string(command) + ",\n";
  s += "  \"device\": " + json_string(e.device) + ",\n";
  s += "  \"sm_count\": " + std::to_string(e.sm_count) + ",\n  \"l2_bytes\": " + std::to_string(e.l2_bytes) + ",\n";
  s += "  \"cuda_runtime\": " + std::to_string(e.cuda_runtime) + ",\n  \"cuda_driver\": " +
       std::to_string(e.cuda_driver) + ",\n  \"cublas\": " + std::to_string(e.cublas) + ",\n";
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
