// `strassentile verify [NAME...] [--file PATH]`: checks algorithms against the matmul tensor.
#include <cstdio>

#include "cli_args.hpp"
#include "commands.hpp"
#include "verify_command.hpp"

namespace strassentile::cli {

int run_verify(const std::vector<std::string>& argv) {
  const Args args(argv, {"file", "data-dir", "tol"}, {});
  apply_data_dir(args.get("data-dir", ""));
  VerifyRequest request;
  request.tolerance = args.get_double("tol", request.tolerance);
  if (!(request.tolerance >= 0.0))
    throw UsageError("--tol must be >= 0 (the largest deviation accepted), got " + args.get("tol", ""));
  if (args.has("file")) request.file = args.get("file", "");
  request.names = args.positionals();
  return verify_command(request, stdout);
}

}  // namespace strassentile::cli
