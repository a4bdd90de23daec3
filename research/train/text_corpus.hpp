// The text corpus of the language-model experiments: the reStructuredText sources (`*.rst.txt`) of Debian
// documentation packages (scripts/fetch-text-corpus.sh unpacks them), split by document, never by line, with the
// rule that script's header defines:
//   h = FNV-1a 64 of "<source>/<relpath>" (relpath: relative to the source's root, '/'-separated)
//   h % 100 < 90 train, < 95 validation, else test.
// A document's split depends on its name alone, so adding a source never moves a document of another source.
// Torch-free: the loader returns bytes; tokenisation is the model's business (research/train/lm_data.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strassentile::data {

enum class CorpusSplit { Train, Val, Test };

// FNV-1a, 64 bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3), over the bytes of `text`.
std::uint64_t fnv1a64(const std::string& text);

// The split of a document named "<source>/<relpath>".
CorpusSplit corpus_split_of(const std::string& document_name);

const char* corpus_split_name(CorpusSplit split);

// One Debian package of the corpus: its documents are named "<name>/<relpath>" and lie under DIR/<root>.
struct TextSource {
  std::string name;     // document-name prefix: "python", "linux", "llvm", "clang", "cmake"
  std::string package;  // what `apt-get download` fetches
  std::string root;     // relative to the corpus folder
};

// Every source scripts/fetch-text-corpus.sh fetches, in the order it prints their roots.
const std::vector<TextSource>& text_sources();
// The sources of the first experiments (python3.11-doc, linux-doc-6.1): 35 MB; the default of every consumer.
const std::vector<std::string>& default_text_sources();
// Throws std::invalid_argument listing the known names when `name` is none of them.
const TextSource& text_source(const std::string& name);

// The roots of `sources` (names) under `dir`, the folder scripts/fetch-text-corpus.sh writes (default
// .cache/text-corpus), in the order given.
std::vector<std::string> text_corpus_roots(const std::string& dir,
                                           const std::vector<std::string>& sources = default_text_sources());

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

// Reads every `*.rst.txt` under the roots of `sources` in `dir` and splits them by the rule above. Throws
// std::runtime_error naming the missing folder and the command that fetches it when a source is absent, or when
// a split is empty; std::invalid_argument for an unknown or repeated source name.
TextCorpus load_text_corpus(const std::string& dir, const std::vector<std::string>& sources = default_text_sources());

}  // namespace strassentile::data
