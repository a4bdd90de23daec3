// strassentile: command-line front end of the library. One subcommand per job.
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "cli_args.hpp"
#include "commands.hpp"
#include "strassentile/loaders.hpp"
#include "strassentile/version.hpp"

namespace {

using strassentile::cli::Command;

const Command kCommands[] = {
    {"algorithms", "list algorithms with tile, rank, FLOP ratio and verification error",
     "strassentile algorithms [--data-dir DIR]", strassentile::cli::run_algorithms},
    {"verify", "check algorithms against the matrix-multiplication tensor (exit 1 on failure)",
     "strassentile verify [NAME...] [--file PATH.npz|PATH_L.sms] [--data-dir DIR] [--tol 1e-12]",
     strassentile::cli::run_verify},
    {"flops", "FLOPs, parameters and ratios of one STL layer against dense",
     "strassentile flops M K N [--tile 4|a,b,c] [--rank 24] [--bytes 2]", strassentile::cli::run_flops},
    {"fit", "fit a rank-r approximation of the <a,b,c> matmul tensor (ALS with restarts)",
     "strassentile fit [--tile 4|a,b,c] [--rank 24] [--restarts 8] [--iterations 2000] [--seed 0] [--save STEM]",
     strassentile::cli::run_fit},
    {"truncate", "keep r products of an exact algorithm (greedy, decoder refitted by least squares)",
     "strassentile truncate NAME [--rank 24] [--data-dir DIR] [--save STEM]", strassentile::cli::run_truncate},
#ifdef STRASSENTILE_HAVE_TORCH
    {"demo", "train dense, exact-STL and r<exact STL models on Fashion-MNIST; print accuracy, FLOPs, parameters",
     "strassentile demo [--epochs 2] [--batch 128] [--hidden 256] [--seed 0] [--train-limit N] [--data DIR] "
     "[--device cpu|cuda] [--json FILE]",
     strassentile::cli::run_demo},
#endif
#ifdef STRASSENTILE_HAVE_CUDA_BENCH
    {"bench", "time dense cuBLAS, naive STL, our STL and 2:4 cuSPARSELt on the GPU, fwd and fwd+bwd, bf16 <4,4,4>",
     "strassentile bench [--shapes MxKxN[:r],...] [--rank 24] [--reps 30] [--warmup 5] [--json FILE] "
     "[--markdown FILE] [--no-sparse]",
     strassentile::cli::run_bench},
#endif
};

void print_help() {
  std::printf("strassentile %s: Strassen-Tile (STL) layers\n\nusage: strassentile COMMAND [ARGS]\n\n",
              STRASSENTILE_VERSION);
  for (const Command& c : kCommands) std::printf("  %-12s %s\n      %s\n", c.name, c.summary, c.usage);
  std::printf("\nCatalogue algorithms (alphatensor-AxBxC, dps-4x4x4-48) are read from the data/fmm this program was\n"
              "built with, or from --data-dir / STRASSENTILE_FMM_DIR.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("strassentile %s\n", STRASSENTILE_VERSION);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    const std::vector<std::string> args(argv + 2, argv + argc);
    try {
      return c.run(args);
    } catch (const strassentile::cli::UsageError& e) {
      std::fprintf(stderr, "strassentile %s: %s\nusage: %s\n", c.name, e.what(), c.usage);
    } catch (const strassentile::FormatError& e) {
      std::fprintf(stderr, "strassentile %s: %s\n", c.name, e.what());
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "strassentile %s: %s\n", c.name, e.what());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "strassentile %s: error: %s\n", c.name, e.what());
    }
    return 2;
  }
  std::fprintf(stderr, "strassentile: unknown command '%s' (see strassentile --help)\n", argv[1]);
  return 2;
}
