// Stand-in for libFuzzer's driver when the compiler has none (gcc): runs the harness on every seed file
// given, then on deterministic mutations of each (truncations, byte flips, insertions, splices). Under
// ASan/UBSan this gives the sanitizer CI job real coverage of the loaders without clang.
// Budgets per input, as libFuzzer's flags of the same names: -timeout=S (wall seconds; the input is saved as
// replay-timeout-input and the run fails) and -rss_limit_mb=M (peak resident memory, checked after each input;
// saved as replay-rss-input). Without ASan, whose shadow memory needs terabytes of address space, the address
// space is capped at M as well, so a runaway allocation fails at once instead of exhausting the machine.
//   usage: replay FILE_OR_DIR... [-mutations=N] [-seed=S] [-timeout=S] [-rss_limit_mb=M]
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
// Optional, as with libFuzzer: one-time setup before the first input, outside the time budget.
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// The input being run, for the timeout handler (which may only make async-signal-safe calls).
const std::string* g_current = nullptr;
char g_timeout_message[160];

void save_input(const char* path, const std::string& bytes) {
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  if (write(fd, bytes.data(), bytes.size()) < 0) {  // nothing more to do from a failing run
  }
  close(fd);
}

extern "C" void on_timeout(int) {
  if (write(STDERR_FILENO, g_timeout_message, std::strlen(g_timeout_message)) < 0) {
  }
  if (g_current != nullptr) save_input("replay-timeout-input", *g_current);
  _exit(1);
}

void arm_timer(double seconds) {
  itimerval timer{};
  timer.it_value.tv_sec = static_cast<time_t>(seconds);
  timer.it_value.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(timer.it_value.tv_sec)) * 1e6);
  setitimer(ITIMER_REAL, &timer, nullptr);
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

struct Budget {
  double timeout_s = 0;    // 0: none
  double rss_limit_mb = 0; // 0: none
};

struct Tally {
  std::size_t runs = 0;
  double slowest_s = 0;
};

// Runs one input within the budget; false (after saying why) when it broke the memory budget.
bool run(const std::string& bytes, const Budget& budget, Tally& tally) {
  std::snprintf(g_timeout_message, sizeof g_timeout_message,
                "replay: input %zu ran past -timeout=%g s; saved as replay-timeout-input\n", tally.runs,
                budget.timeout_s);
  g_current = &bytes;
  if (budget.timeout_s > 0) arm_timer(budget.timeout_s);
  const auto start = std::chrono::steady_clock::now();
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (budget.timeout_s > 0) arm_timer(0);
  g_current = nullptr;
  tally.slowest_s = std::max(tally.slowest_s, elapsed.count());
  const double rss = peak_rss_mb();
  if (budget.rss_limit_mb > 0 && rss > budget.rss_limit_mb) {
    std::fprintf(stderr, "replay: input %zu raised the peak RSS to %.0f MB, over -rss_limit_mb=%g; saved as "
                 "replay-rss-input\n", tally.runs, rss, budget.rss_limit_mb);
    save_input("replay-rss-input", bytes);
    return false;
  }
  ++tally.runs;
  return true;
}

std::string mutate(const std::string& seed, std::mt19937_64& rng) {
  std::string s = seed;
  const auto pos = [&](std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); };
  switch (rng() % 5) {
    case 0: s.resize(pos(s.size() + 1)); break;  // truncate
    case 1:                                      // flip a few bytes
      for (int i = 0; i < 1 + static_cast<int>(rng() % 8) && !s.empty(); ++i)
        s[pos(s.size())] = static_cast<char>(rng());
      break;
    case 2: s.insert(pos(s.size() + 1), std::string(1 + rng() % 16, static_cast<char>(rng()))); break;
    case 3: if (!s.empty()) s.erase(pos(s.size()), 1 + rng() % 64); break;
    default: {  // duplicate a slice elsewhere
      if (s.empty()) break;
      const std::size_t from = pos(s.size()), len = 1 + rng() % 64;
      s.insert(pos(s.size() + 1), s.substr(from, len));
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t mutations = 200;
  std::uint64_t seed = 1;
  Budget budget;
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("-mutations=", 0) == 0) {
      mutations = std::strtoull(arg.c_str() + 11, nullptr, 10);
    } else if (arg.rfind("-seed=", 0) == 0) {
      seed = std::strtoull(arg.c_str() + 6, nullptr, 10);
    } else if (arg.rfind("-timeout=", 0) == 0) {
      budget.timeout_s = std::strtod(arg.c_str() + 9, nullptr);
    } else if (arg.rfind("-rss_limit_mb=", 0) == 0) {
      budget.rss_limit_mb = std::strtod(arg.c_str() + 14, nullptr);
    } else if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg))
        if (entry.is_regular_file()) seeds.push_back(slurp(entry.path()));
    } else if (std::filesystem::is_regular_file(arg)) {
      seeds.push_back(slurp(arg));
    } else {
      std::fprintf(stderr, "replay: no such file or directory: %s\n", arg.c_str());
      return 2;
    }
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "replay: no seed inputs given\n");
    return 2;
  }
  if (budget.rss_limit_mb > 0 && !kAddressSanitizer) {
    const auto bytes = static_cast<rlim_t>(budget.rss_limit_mb * 1024 * 1024);
    const rlimit cap{bytes, bytes};
    setrlimit(RLIMIT_AS, &cap);
  }
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  if (budget.timeout_s > 0) std::signal(SIGALRM, on_timeout);
  std::mt19937_64 rng(seed);
  Tally tally;
  for (const std::string& s : seeds) {
    if (!run(s, budget, tally)) return 1;
    std::string current = s;
    for (std::size_t i = 0; i < mutations; ++i) {
      current = (rng() % 4 == 0) ? s : mutate(current, rng);  // mostly stack mutations, sometimes restart
      if (!run(current, budget, tally)) return 1;
    }
  }
  std::printf("replay: %zu inputs from %zu seeds, no crash (slowest %.3f s, peak RSS %.0f MB)\n", tally.runs,
              seeds.size(), tally.slowest_s, peak_rss_mb());
  return 0;
}
