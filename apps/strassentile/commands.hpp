// The strassentile subcommands. Each returns the process exit code: 0 success, 1 a check failed,
// 2 bad usage or unreadable input (after printing a message that names the problem).
#pragma once

#include <string>
#include <vector>

namespace strassentile::cli {

struct Command {
  const char* name;
  const char* summary;
  const char* usage;
  int (*run)(const std::vector<std::string>& args);
};

int run_algorithms(const std::vector<std::string>& args);
int run_verify(const std::vector<std::string>& args);
int run_flops(const std::vector<std::string>& args);
int run_fit(const std::vector<std::string>& args);
int run_truncate(const std::vector<std::string>& args);
int run_demo(const std::vector<std::string>& args);   // needs libtorch (STRASSENTILE_HAVE_TORCH)
#ifdef STRASSENTILE_HAVE_CUDA_BENCH
int run_bench(const std::vector<std::string>& args);  // needs the CUDA layer (STRASSENTILE_WITH_CUDA)
#endif

// Applies --data-dir (or leaves STRASSENTILE_FMM_DIR in charge).
void apply_data_dir(const std::string& dir);

}  // namespace strassentile::cli
