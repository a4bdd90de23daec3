// The text side of the GPU benchmarks (`strassentile bench`, the lab's stl-lab-bench): the --shapes list, table
// cells and JSON values. Header-only: both programs compile it as plain C++.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../cli_args.hpp"
#include "dense_vs_stl.hpp"

namespace strassentile::bench {

inline std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  while (true) {
    const std::string::size_type at = text.find(sep, start);
    parts.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

// "MxKxN[:r]" entries separated by commas; positive sizes, r in 1..1024 (default_rank where absent).
inline std::vector<LayerShape> parse_shapes(const std::string& text, int default_rank) {
  using cli::Args;
  using cli::UsageError;
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

inline std::string shape_name(const LayerShape& s) {
  return std::to_string(s.M) + "x" + std::to_string(s.K) + "x" + std::to_string(s.N);
}

inline std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// "ms (ratio×)" for a table cell; ratio = dense / the method.
inline std::string cell(const Timing& t, double dense_ms) {
  if (!t.ok) return "n/m";
  return fixed(t.ms, 3) + " (" + fixed(dense_ms / t.ms, 2) + "x)";
}

inline std::string json_string(const std::string& s) {
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

inline std::string json_timing(const Timing& t, double dense_ms) {
  if (!t.ok) return "{\"ms\": null, \"not_measured\": " + json_string(t.why_not) + "}";
  return "{\"ms\": " + fixed(t.ms, 4) + ", \"speedup_over_dense\": " + fixed(dense_ms / t.ms, 3) + "}";
}

// The JSON lines that say where a run was measured (device, SMs, L2, CUDA runtime and driver, cuBLAS).
inline std::string json_env_fields(const BenchEnv& e) {
  return "  \"device\": " + json_string(e.device) + ",\n  \"sm_count\": " + std::to_string(e.sm_count) +
         ",\n  \"l2_bytes\": " + std::to_string(e.l2_bytes) + ",\n  \"cuda_runtime\": " +
         std::to_string(e.cuda_runtime) + ",\n  \"cuda_driver\": " + std::to_string(e.cuda_driver) +
         ",\n  \"cublas\": " + std::to_string(e.cublas) + ",\n";
}

}  // namespace strassentile::bench
