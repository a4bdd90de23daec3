#!/usr/bin/env bash
# fetch-text-corpus.sh [DIR]: the English text corpus of the language-model and conversion experiments, from
# Debian's python3.11-doc and linux-doc-6.1 (reStructuredText sources of their HTML manuals, ~42 MB, ~3,700
# documents). Downloaded with `apt-get download` and unpacked with `dpkg-deb -x` (no root needed) into
# DIR (default .cache/text-corpus); prints the two source roots, one per line. Does nothing when they exist.
#
# Documents are `**/*.rst.txt` under each root. Every consumer splits them the same way (by document, never by
# line): h = FNV-1a 64 of the path relative to its root, prefixed "python/" or "linux/"; h % 100 < 90 train,
# < 95 validation, else test.
set -euo pipefail
dir=${1:-.cache/text-corpus}
roots=("$dir/root/usr/share/doc/python3.11/html/_sources" "$dir/root/usr/share/doc/linux-doc-6.1/html/_sources")
if [ -d "${roots[0]}" ] && [ -d "${roots[1]}" ]; then printf '%s\n' "${roots[@]}"; exit 0; fi
mkdir -p "$dir/deb" "$dir/root"
(cd "$dir/deb" && apt-get download python3.11-doc linux-doc-6.1 >/dev/null 2>&1) || {
  echo "fetch-text-corpus: 'apt-get download python3.11-doc linux-doc-6.1' failed; run 'apt-get update' and retry," \
       "or unpack both packages yourself and pass their html/_sources folders" >&2; exit 1; }
for deb in "$dir"/deb/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
for r in "${roots[@]}"; do [ -d "$r" ] || { echo "fetch-text-corpus: $r missing after unpacking" >&2; exit 1; }; done
printf '%s\n' "${roots[@]}"
