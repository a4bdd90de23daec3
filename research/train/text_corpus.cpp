#include "text_corpus.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "posix_files.hpp"

namespace strassentile::data {

std::uint64_t fnv1a64(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char ch : text) {
    h ^= static_cast<std::uint64_t>(static_cast<unsigned char>(ch));
    h *= 0x100000001b3ULL;
  }
  return h;
}

CorpusSplit corpus_split_of(const std::string& document_name) {
  const std::uint64_t bucket = fnv1a64(document_name) % 100;
  return bucket < 90 ? CorpusSplit::Train : bucket < 95 ? CorpusSplit::Val : CorpusSplit::Test;
}

const char* corpus_split_name(CorpusSplit split) {
  return split == CorpusSplit::Train ? "train" : split == CorpusSplit::Val ? "validation" : "test";
}

const std::vector<TextSource>& text_sources() {
  static const std::vector<TextSource> sources = {
      {"python", "python3.11-doc", "root/usr/share/doc/python3.11/html/_sources"},
      {"linux", "linux-doc-6.1", "root/usr/share/doc/linux-doc-6.1/html/_sources"},
      {"llvm", "llvm-15-doc", "root/usr/share/doc/llvm-15-doc/html/_sources"},
      {"clang", "clang-15-doc", "root/usr/share/doc/clang-15/html/_sources"},
      {"cmake", "cmake-doc", "root/usr/share/doc/cmake-data/html/_sources"}};
  return sources;
}

const std::vector<std::string>& default_text_sources() {
  static const std::vector<std::string> names = {"python", "linux"};
  return names;
}

const TextSource& text_source(const std::string& name) {
  std::string known;
  for (const TextSource& s : text_sources()) {
    if (s.name == name) return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  throw std::invalid_argument("unknown text source '" + name + "' (known: " + known + ")");
}

std::vector<std::string> text_corpus_roots(const std::string& dir, const std::vector<std::string>& sources) {
  std::vector<std::string> roots;
  for (const std::string& name : sources) roots.push_back(dir + "/" + text_source(name).root);
  return roots;
}

TextCorpus load_text_corpus(const std::string& dir, const std::vector<std::string>& sources) {
  if (sources.empty()) throw std::invalid_argument("text corpus: no sources given");
  std::vector<std::pair<std::string, std::string>> documents;  // name → file
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (std::find(sources.begin(), sources.begin() + static_cast<std::ptrdiff_t>(i), sources[i]) !=
        sources.begin() + static_cast<std::ptrdiff_t>(i))
      throw std::invalid_argument("text source '" + sources[i] + "' is listed twice");
    const TextSource& source = text_source(sources[i]);
    const std::string root = dir + "/" + source.root;
    if (!train::is_directory(root))
      throw std::runtime_error("text corpus: " + root + " is missing; run 'scripts/fetch-text-corpus.sh " + dir +
                               "' (apt-get download " + source.package +
                               ", unpacked without root) or pass --data DIR of an unpacked copy");
    for (const std::string& rel : train::regular_files_under(root)) {
      if (rel.size() < 8 || rel.compare(rel.size() - 8, 8, ".rst.txt") != 0) continue;
      documents.emplace_back(source.name + "/" + rel, root + "/" + rel);
    }
  }
  std::sort(documents.begin(), documents.end());  // name order: the byte streams do not depend on the file system
  TextCorpus corpus;
  corpus.dir = dir;
  for (const auto& [name, path] : documents) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) throw std::runtime_error("text corpus: cannot read " + path);
    CorpusSplitText& split = corpus_split_of(name) == CorpusSplit::Train ? corpus.train
                             : corpus_split_of(name) == CorpusSplit::Val ? corpus.val
                                                                         : corpus.test;
    split.bytes += text.str();
    split.bytes += kDocumentEnd;
    ++split.documents;
  }
  for (const CorpusSplit s : {CorpusSplit::Train, CorpusSplit::Val, CorpusSplit::Test})
    if (corpus.split(s).documents == 0)
      throw std::runtime_error(std::string("text corpus: no ") + corpus_split_name(s) + " documents (*.rst.txt) under " +
                               dir + "; run scripts/fetch-text-corpus.sh " + dir);
  return corpus;
}

}  // namespace strassentile::data
