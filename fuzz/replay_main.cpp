// Stand-in for libFuzzer's driver when the compiler has none (gcc): runs the harness on every seed file
// given, then on deterministic mutations of each (truncations, byte flips, insertions, splices). Under
// ASan/UBSan this gives the sanitizer CI job real coverage of the loaders without clang.
//   usage: replay FILE_OR_DIR... [-mutations=N] [-seed=S]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void run(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
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
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("-mutations=", 0) == 0) {
      mutations = std::strtoull(arg.c_str() + 11, nullptr, 10);
    } else if (arg.rfind("-seed=", 0) == 0) {
      seed = std::strtoull(arg.c_str() + 6, nullptr, 10);
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
  std::mt19937_64 rng(seed);
  std::size_t runs = 0;
  for (const std::string& s : seeds) {
    run(s), ++runs;
    std::string current = s;
    for (std::size_t i = 0; i < mutations; ++i, ++runs) {
      current = (rng() % 4 == 0) ? s : mutate(current, rng);  // mostly stack mutations, sometimes restart
      run(current);
    }
  }
  std::printf("replay: %zu inputs from %zu seeds, no crash\n", runs, seeds.size());
  return 0;
}
