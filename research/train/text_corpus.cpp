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

std::vector<std::string> text_corpus_roots(const std::string& dir) {
  return {dir + "/root/usr/share/doc/python3.11/html/_sources", dir + "/root/usr/share/doc/linux-doc-6.1/html/_sources"};
}

TextCorpus load_text_corpus(const std::string& dir) {
  const std::vector<std::string> roots = text_corpus_roots(dir);
  const char* prefixes[] = {"python/", "linux/"};
  std::vector<std::pair<std::string, std::string>> documents;  // name → file
  for (std::size_t i = 0; i < roots.size(); ++i) {
    if (!train::is_directory(roots[i]))
      throw std::runtime_error("text corpus: " + roots[i] + " is missing; run 'scripts/fetch-text-corpus.sh " + dir +
                               "' (apt-get download python3.11-doc linux-doc-6.1, unpacked without root) or pass "
                               "--data DIR of an unpacked copy");
    for (const std::string& rel : train::regular_files_under(roots[i])) {
      if (rel.size() < 8 || rel.compare(rel.size() - 8, 8, ".rst.txt") != 0) continue;
      documents.emplace_back(prefixes[i] + rel, roots[i] + "/" + rel);
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
