#!/usr/bin/env bash
# fetch-text-corpus.sh [DIR]: the English text corpus of the language-model and conversion experiments, the
# reStructuredText sources of five Debian manuals (bookworm; unpacked sizes of their `*.rst.txt`):
#   python  python3.11-doc   497 documents  11.0 MB  } the default corpus of every consumer
#   linux   linux-doc-6.1   3183 documents  24.2 MB  }
#   llvm    llvm-15-doc     1033 documents   9.7 MB  } added for the scaled language model
#   clang   clang-15-doc      86 documents   2.1 MB  } (research/train/lm_convergence.cfg: --corpus all five),
#   cmake   cmake-doc       1899 documents   2.6 MB  } 49.5 MB in all
# Downloaded with `apt-get download` and unpacked with `dpkg-deb -x` (no root needed) into DIR (default
# .cache/text-corpus); prints the five source roots, one per line, in that order. Does nothing when they exist.
#
# Documents are `**/*.rst.txt` under each root. Every consumer splits them the same way (by document, never by
# line): h = FNV-1a 64 of the path relative to its root, prefixed "<source>/" (python/, linux/, llvm/, clang/,
# cmake/); h % 100 < 90 train, < 95 validation, else test. A document's split depends on its name alone, so the
# three added sources move no document of the first two.
set -euo pipefail
dir=${1:-.cache/text-corpus}
packages=(python3.11-doc linux-doc-6.1 llvm-15-doc clang-15-doc cmake-doc)
roots=("$dir/root/usr/share/doc/python3.11/html/_sources" "$dir/root/usr/share/doc/linux-doc-6.1/html/_sources"
       "$dir/root/usr/share/doc/llvm-15-doc/html/_sources" "$dir/root/usr/share/doc/clang-15/html/_sources"
       "$dir/root/usr/share/doc/cmake-data/html/_sources")
missing=()
for i in "${!packages[@]}"; do [ -d "${roots[$i]}" ] || missing+=("${packages[$i]}"); done
if [ ${#missing[@]} -eq 0 ]; then printf '%s\n' "${roots[@]}"; exit 0; fi
mkdir -p "$dir/deb" "$dir/root"
(cd "$dir/deb" && apt-get download "${missing[@]}" >/dev/null 2>&1) || {
  echo "fetch-text-corpus: 'apt-get download ${missing[*]}' failed; run 'apt-get update' and retry," \
       "or unpack the packages yourself into $dir/root" >&2; exit 1; }
for p in "${missing[@]}"; do
  for deb in "$dir"/deb/"${p}"_*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
done
for r in "${roots[@]}"; do [ -d "$r" ] || { echo "fetch-text-corpus: $r missing after unpacking" >&2; exit 1; }; done
printf '%s\n' "${roots[@]}"
