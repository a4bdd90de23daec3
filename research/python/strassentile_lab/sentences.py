"""English prose sentences out of the reStructuredText documents of the text corpus (text_corpus.py).

Directives, comments, literal (code) blocks, tables, titles and list markers are dropped, inline markup is
reduced to its text, and only sentences that look like running English prose are kept: the sentence pools of the
MiniLM conversion experiment are made of these.
"""
from __future__ import annotations

import re
from typing import Iterator

from . import text_corpus

_ROLE = re.compile(r":[\w:+-]+:`([^`<]*?)(?:\s*<[^>]*>)?`")  # :func:`name <target>` -> name
_LINK = re.compile(r"`([^`<]+?)\s*<[^>]*>`_+")                # `text <url>`_ -> text
_LITERAL = re.compile(r"``([^`]*)``")
_EMPHASIS = re.compile(r"\*\*?([^*]+)\*\*?")
_REFERENCE = re.compile(r"`([^`]+)`_*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")
_NUMBERED = re.compile(r"^\d+\.\s")


def _prose_paragraphs(text: str) -> Iterator[str]:
    lines = text.splitlines()
    paragraph: list[str] = []
    skip_deeper_than: int | None = None  # inside a directive or literal block

    def flush() -> Iterator[str]:
        if paragraph:
            yield " ".join(paragraph)
            paragraph.clear()

    for i, raw in enumerate(lines):
        line = raw.rstrip()
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None:
            if not stripped or indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not stripped or _UNDERLINE.match(stripped) or _UNDERLINE.match(following) or stripped[0] in "|+":
            yield from flush()
            continue
        if stripped.startswith(".. "):
            skip_deeper_than = indent
            yield from flush()
            continue
        if stripped.startswith((">>>", "...", "$ ", "# ", "#.")) or _NUMBERED.match(stripped):
            yield from flush()
            continue
        if stripped.startswith(("- ", "* ")):
            yield from flush()
            stripped = stripped[2:]
        if stripped.endswith("::"):
            skip_deeper_than = indent  # the indented block after "::" is code
            stripped = stripped[:-1]
        paragraph.append(stripped)
    yield from flush()


def _plain(text: str) -> str:
    for pattern in (_ROLE, _LINK, _LITERAL, _EMPHASIS, _REFERENCE):
        text = pattern.sub(r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def is_prose(sentence: str, min_words: int = 6, max_words: int = 40) -> bool:
    words = sentence.split()
    if not (min_words <= len(words) <= max_words) or not sentence[0].isupper() or sentence[-1] not in ".!?":
        return False
    letters = sum(ch.isalpha() or ch == " " for ch in sentence)
    return letters >= 0.85 * len(sentence) and not any(ch in sentence for ch in "`|\\{}<>=_")


def sentences(text: str) -> list[str]:
    """The prose sentences of one reStructuredText document, in order."""
    return [s for p in _prose_paragraphs(text) for s in _SENTENCE_END.split(_plain(p)) if s and is_prose(s)]


def split_sentences(corpus_dir, split: str, limit: int | None = None) -> list[str]:
    """Distinct prose sentences of a corpus split, in document order, at most ``limit``."""
    seen: dict[str, None] = {}
    for name, path in text_corpus.documents(corpus_dir, split):
        if "/translations/" in name:  # the kernel manual's translations are not English
            continue
        for s in sentences(path.read_text(encoding="utf-8", errors="replace")):
            seen.setdefault(s)
            if limit is not None and len(seen) >= limit:
                return list(seen)
    return list(seen)
