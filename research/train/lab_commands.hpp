// The strassentile-lab subcommands (the experiments' trainers). Each returns the process exit code: 0 success,
// 1 a run failed, 2 bad usage or unreadable input.
#pragma once

#include <string>
#include <vector>

namespace strassentile::cli {

int run_train(const std::vector<std::string>& args);     // `train vit ...` (cmd_train.cpp)
int run_train_lm(const std::vector<std::string>& args);  // `train lm ...` (cmd_train_lm.cpp)

}  // namespace strassentile::cli
