// Files and folders through POSIX calls rather than std::filesystem. libtorch exports its own copy of libstdc++'s
// std::filesystem (pytorch/pytorch#133437); in a program built with another g++ than torch's, calls such as
// remove_all bind to that copy and crash (seen with g++ 13.3 and torch 2.11's wheel).
#pragma once

#include <string>
#include <vector>

namespace strassentile::train {

bool is_directory(const std::string& path);
bool is_regular_file(const std::string& path);
// The regular files below `root` (following symbolic links), as paths relative to it with '/' separators.
std::vector<std::string> regular_files_under(const std::string& root);
// mkdir -p: creates `path` and its missing parents; throws std::runtime_error naming the folder it could not make.
void make_directories(const std::string& path);
// rm -rf: removes `path` and everything below it (symbolic links themselves, not their targets); absent is fine.
void remove_tree(const std::string& path);
// A new empty folder under $TMPDIR (else /tmp) whose name starts with `prefix`, unique to this call (mkdtemp).
std::string make_scratch_directory(const std::string& prefix);

}  // namespace strassentile::train
