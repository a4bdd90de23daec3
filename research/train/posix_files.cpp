#include "posix_files.hpp"

#include <ftw.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace strassentile::train {
namespace {

bool stat_mode(const std::string& path, mode_t type) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IFMT) == type;
}

// nftw's callbacks take no context: the walk in progress (one at a time per thread).
thread_local std::vector<std::string>* walk_files = nullptr;
thread_local std::size_t walk_root_length = 0;

int collect_regular_file(const char* path, const struct stat* st, int type, struct FTW*) {
  if (type == FTW_F && S_ISREG(st->st_mode)) walk_files->emplace_back(path + walk_root_length);
  return 0;
}

int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return std::remove(path) == 0 ? 0 : -1; }

}  // namespace

bool is_directory(const std::string& path) { return stat_mode(path, S_IFDIR); }

bool is_regular_file(const std::string& path) { return stat_mode(path, S_IFREG); }

std::vector<std::string> regular_files_under(const std::string& root) {
  std::string base = root;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::vector<std::string> files;
  walk_files = &files;
  walk_root_length = base.size() + 1;
  const int status = ::nftw(base.c_str(), collect_regular_file, 32, 0);
  walk_files = nullptr;
  if (status != 0) throw std::runtime_error("cannot list the files under " + root + ": " + std::strerror(errno));
  return files;
}

void make_directories(const std::string& path) {
  for (std::size_t end = path.find('/', 1); ; end = path.find('/', end + 1)) {
    const std::string part = path.substr(0, end);
    if (!part.empty() && ::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
      throw std::runtime_error("cannot create the folder " + part + ": " + std::strerror(errno));
    if (end == std::string::npos) break;
  }
  if (!is_directory(path)) throw std::runtime_error("cannot create the folder " + path + ": a file is in the way");
}

void remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (::nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0)
    throw std::runtime_error("cannot remove " + path + ": " + std::strerror(errno));
}

std::string make_scratch_directory(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("cannot create a folder like " + pattern + ": " + std::strerror(errno));
  return pattern;
}

}  // namespace strassentile::train
