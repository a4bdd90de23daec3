// libFuzzer harness for `strassentile verify`: the CLI's own code path (verify_command.hpp) on hostile files, from
// reading the file through the loaders, the core's tensor and work limits and the arithmetic to the report.
// Contract under test: every input either verifies or raises one of the errors the CLI turns into a message and
// exit code 2 (invalid_argument, length_error, runtime_error: FormatError and UsageError are runtime_errors), with
// a message. Crashes, leaks, other exceptions (std::bad_alloc), timeouts and memory blow-ups are findings; the
// per-input time and memory budgets are set by scripts/fuzz.sh (libFuzzer) and by the ctest replay case.
//
// Input layout: the first byte picks what the user passes, the rest is the content.
//   byte % 3 == 0: --file F.npz, the rest is the archive;
//   byte % 3 == 1: --file STEM_L.sms | STEM_R.sms | STEM_P.sms | STEM (by byte / 3 % 4), the rest is the L, R and P
//                  files separated by NUL bytes (absent parts are absent files);
//   byte % 3 == 2: an algorithm NAME (built-in or catalogue), the rest is the name.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "verify_command.hpp"

namespace {

namespace fs = std::filesystem;

fs::path make_work_dir() {
  std::string pattern = (fs::temp_directory_path() / "fuzz_verify.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("fuzz_verify: mkdtemp");
    std::abort();
  }
  return pattern;
}

// One private folder per process, so parallel fuzzers never see each other's files; removed at exit.
const fs::path& work_dir() {
  static const fs::path dir = make_work_dir();
  // Registered after `dir` is built, so it runs before `dir` is destroyed.
  static const bool cleanup = (std::atexit([] { fs::remove_all(work_dir()); }), true);
  (void)cleanup;
  return dir;
}

std::FILE* report_sink() {
  static std::FILE* sink = std::fopen("/dev/null", "w");
  return sink;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

strassentile::cli::VerifyRequest request_for(std::uint8_t selector, const std::string& content) {
  const fs::path& dir = work_dir();
  for (const char* name : {"input.npz", "input_L.sms", "input_R.sms", "input_P.sms"}) fs::remove(dir / name);
  strassentile::cli::VerifyRequest request;
  switch (selector % 3) {
    case 0:
      write_file(dir / "input.npz", content);
      request.file = (dir / "input.npz").string();
      break;
    case 1: {
      std::size_t start = 0;
      for (const char* part : {"input_L.sms", "input_R.sms", "input_P.sms"}) {
        if (start > content.size()) break;
        const std::size_t end = std::min(content.find('\0', start), content.size());
        write_file(dir / part, content.substr(start, end - start));
        start = end + 1;
      }
      const char* names[] = {"input_L.sms", "input_R.sms", "input_P.sms", "input"};
      request.file = (dir / names[selector / 3 % 4]).string();
      break;
    }
    default:
      request.names = {content};
  }
  return request;
}

}  // namespace

// Loads the catalogue once up front (as any name lookup would): a fixed cost of the first lookup, not of an input,
// so it must not count against the per-input time budget.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)strassentile::available();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string content(reinterpret_cast<const char*>(data) + 1, size - 1);
  const strassentile::cli::VerifyRequest request = request_for(data[0], content);
  try {
    strassentile::cli::verify_command(request, report_sink());
  } catch (const std::invalid_argument& e) {
    if (*e.what() == '\0') std::abort();  // the CLI prints the message: an empty one tells the user nothing
  } catch (const std::length_error& e) {
    if (*e.what() == '\0') std::abort();
  } catch (const std::runtime_error& e) {
    if (*e.what() == '\0') std::abort();
  }
  return 0;
}
