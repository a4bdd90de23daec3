// The text corpus of the language-model experiment: the reStructuredText sources of Debian's python3.11-doc and
// linux-doc-6.1 (scripts/fetch-text-corpus.sh unpacks them), split by document, never by line, with the rule that
// script's header defines:
//   h = FNV-1a 64 of "python/<relpath>" or "linux/<relpath>" (relpath: relative to its source root, '/'-separated)
//   h % 100 < 90 train, < 95 validation, else test.
// Torch-free: the loader returns bytes; tokenisation is the model's business (research/train/lm_data.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strassentile::data {

enum class CorpusSplit { Train, Val, Test };

// FNV-1a, 64 bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3), over the bytes of `text`.
std::uint64_t fnv1a64(const std::string& text);

// The split of a document named "python/<relpath>" or "linux/<relpath>".
CorpusSplit corpus_split_of(const std::string& document_name);

const char* corpus_split_name(CorpusSplit split);

// The two source roots (python first) under `dir`, the folder scripts/fetch-text-corpus.sh writes
// (default .cache/text-corpus): DIR/root/usr/share/doc/{python3.11,linux-doc-6.1}/html/_sources.
std::vector<std::string> text_corpus_roots(const std::string& dir);

struct CorpusSplitText {
  std::string bytes;          // the split's documents in name order, each followed by kDocumentEnd
  std::int64_t documents = 0;
};

struct TextCorpus {
  std::string dir;
  CorpusSplitText train, val, test;
  const CorpusSplitText& split(CorpusSplit s) const { return s == CorpusSplit::Train ? train : s == CorpusSplit::Val ? val : test; }
};

// Byte 0 never occurs in the documents (they are text); it marks the end of each one, so a model sees where a
// document stops instead of running one manual page into the next.
constexpr char kDocumentEnd = '\0';

// Reads every `*.rst.txt` under both roots of `dir` and splits them by the rule above. Throws std::runtime_error
// naming the missing folder and the command that fetches it when the corpus is absent, or when a split is empty.
TextCorpus load_text_corpus(const std::string& dir);

}  // namespace strassentile::data
