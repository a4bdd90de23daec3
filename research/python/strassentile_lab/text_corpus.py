"""The English text corpus (scripts/fetch-text-corpus.sh) and its by-document split rule, as in
apps/common/text_corpus.hpp: h = FNV-1a 64 of "python/<relpath>" or "linux/<relpath>"; h % 100 < 90 train,
< 95 validation, else test."""
from __future__ import annotations

import pathlib

ROOTS = {
    "python": "root/usr/share/doc/python3.11/html/_sources",
    "linux": "root/usr/share/doc/linux-doc-6.1/html/_sources",
}
SPLITS = ("train", "validation", "test")


def fnv1a64(text: str) -> int:
    """FNV-1a, 64 bit, over the UTF-8 bytes of ``text``."""
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def split_of(document_name: str) -> str:
    bucket = fnv1a64(document_name) % 100
    return "train" if bucket < 90 else "validation" if bucket < 95 else "test"


def documents(corpus_dir: str | pathlib.Path, split: str) -> list[tuple[str, pathlib.Path]]:
    """(name, path) of every ``*.rst.txt`` document of ``split``, sorted by name."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    corpus_dir = pathlib.Path(corpus_dir)
    found = []
    for prefix, rel in ROOTS.items():
        root = corpus_dir / rel
        if not root.is_dir():
            raise FileNotFoundError(f"text corpus: {root} is missing; run `scripts/fetch-text-corpus.sh {corpus_dir}`")
        for path in root.rglob("*.rst.txt"):
            name = f"{prefix}/{path.relative_to(root).as_posix()}"
            if split_of(name) == split:
                found.append((name, path))
    return sorted(found)
