// strassentile-lab: the experiments' trainers (ViT on Fashion-MNIST, byte-level LM), kept out of the user CLI.
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "lab_commands.hpp"
#include "strassentile/loaders.hpp"
#include "strassentile/version.hpp"

namespace {

const char* const kUsage =
    "strassentile-lab train vit [--config FILE] [--variants 'dense;stl:rank=24,init=fit;sparse24:mask=learned;"
    "lowrank:match_rank=24'] [--seeds 0,1,2] [--epochs 10] [--batch 256] [--lr 1e-3] [--wd 0.05] [--warmup 0.05] "
    "[--clip 0] [--max-steps N] [--device cpu|cuda] [--threads N] [--data DIR|synthetic] [--val 5000] "
    "[--train-limit N] [--test-limit N] [--dim 256] [--depth 6] [--heads 4] [--patch 7] [--eval-batch 1000] "
    "[--amp off|bf16] [--log-every 10] [--shard I/N] [--json FILE]\n"
    "  strassentile-lab train lm [--variants 'dense;stl:tile=4x4x4,rank=24,mode=causal;sparse24'] [--seeds 0,1] "
    "[--tokens 4000000] [--batch 32] [--context 256] [--dim 256] [--depth 4] [--heads 4] [--hidden 0] [--lr 2e-3] "
    "[--wd 0.1] [--beta2 0.95] [--warmup 0.05] [--clip 1] [--curve-points 10] [--curve-tokens 131072] "
    "[--eval-limit N] [--eval-batch 64] [--device cpu|cuda] [--threads N] [--tf32 1] [--amp off|bf16] [--log-every 10] "
    "[--deadline S] [--data .cache/text-corpus] [--shard I/N] [--json FILE] [--save PREFIX]\n"
    "  strassentile-lab train lm generate --checkpoint FILE --prompt TEXT [--tokens 200] [--temperature 0.8] "
    "[--top-k 0] [--seed 0] [--device cpu|cuda] [--recompute]";

void print_help() {
  std::printf("strassentile-lab %s: train a small ViT on Fashion-MNIST, or a byte-level Llama-style LM on Debian's "
              "docs, with dense, STL, 2:4 or low-rank linears; seeds; JSON results\n\nusage:\n  %s\n",
              STRASSENTILE_VERSION, kUsage);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "train") != 0) {
    std::fprintf(stderr, "strassentile-lab: unknown command '%s' (see strassentile-lab --help)\n", argv[1]);
    return 2;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    return strassentile::cli::run_train(args);
  } catch (const strassentile::cli::UsageError& e) {
    std::fprintf(stderr, "strassentile-lab train: %s\nusage: %s\n", e.what(), kUsage);
  } catch (const strassentile::FormatError& e) {
    std::fprintf(stderr, "strassentile-lab train: %s\n", e.what());
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "strassentile-lab train: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strassentile-lab train: error: %s\n", e.what());
  }
  return 2;
}
