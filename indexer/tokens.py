"""Lexical analysis shared by the index and the queries: script and width folding, jieba
search-mode segmentation, stop words, FTS5 query building and term highlighting.

Folding (full-/half-width, case, traditional -> simplified via OpenCC) is applied to copies
used for matching; stored text is never changed.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path

_WORD = re.compile(r"[\w\u4e00-\u9fff]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_GRAM_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9][a-z0-9.%]*")


@lru_cache(maxsize=1)
def _stopwords_text() -> str:
    return resources.files(__package__).joinpath("data/stopwords.txt").read_text(encoding="utf-8")


def default_stopwords() -> frozenset[str]:
    return frozenset(line.strip() for line in _stopwords_text().splitlines()
                     if line.strip() and not line.startswith("#"))


_TOKENIZERS: dict[str | None, tuple] = {}
_TOKENIZERS_LOCK = threading.Lock()


def _shared_tokenizer(user_dict: Path | None, digest: str | None) -> tuple:
    """One jieba tokenizer (and the lock that serialises it) per user dictionary per process:
    loading jieba's dictionary takes 1-2 s, and a reload, a build or a test opens many Analyzers."""
    import jieba

    with _TOKENIZERS_LOCK:
        if digest not in _TOKENIZERS:
            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            if user_dict is not None:
                tokenizer.load_userdict(str(user_dict))
            _TOKENIZERS[digest] = (tokenizer, threading.Lock())
        return _TOKENIZERS[digest]


class Analyzer:
    """One per index: its settings (user dictionary, stop words) are part of the manifest."""

    def __init__(self, user_dict: Path | None = None) -> None:
        import opencc

        self.user_dict_sha256 = (hashlib.sha256(user_dict.read_bytes()).hexdigest()
                                 if user_dict is not None else None)
        self._jieba, self._jieba_lock = _shared_tokenizer(user_dict, self.user_dict_sha256)
        self._t2s = opencc.OpenCC("t2s")
        self._cc_lock = threading.Lock()    # the converter is a C++ object; keep calls serial
        self._char_fold: dict[str, str] = {}  # per-character folding, for highlighting
        self.stopwords = default_stopwords()

    def warm(self) -> None:
        """Load jieba's dictionary now rather than on the first query."""
        with self._jieba_lock:
            self._jieba.initialize()

    def description(self) -> dict:
        """What the manifest records: anything that changes tokens changes this."""
        import jieba

        return {
            "segmenter": f"jieba {jieba.__version__} cut_for_search",
            "grams": "character bigrams of Chinese runs, whole Latin/digit words",
            "folding": "NFKC, lowercase, OpenCC t2s",
            "stopwords_sha256": hashlib.sha256(_stopwords_text().encode()).hexdigest()[:16],
            "user_dict_sha256": self.user_dict_sha256,
        }

    def fold(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text).lower()
        with self._cc_lock:
            return self._t2s.convert(text)

    def tokens(self, text: str) -> list[str]:
        """Search-mode jieba tokens of folded text, without punctuation and stop words."""
        folded = self.fold(text)
        with self._jieba_lock:
            self._jieba.initialize()
        words = self._jieba.cut_for_search(folded)
        return [w for w in (w.strip() for w in words)
                if w and w not in self.stopwords and _WORD.search(w)]

    def cut(self, folded: str) -> list[str]:
        """jieba's precise cut of folded text (every character in one word; tokens() is for search)."""
        with self._jieba_lock:
            self._jieba.initialize()
        return list(self._jieba.cut(folded))

    def is_word(self, word: str) -> bool:
        """Whether jieba's dictionary (with the user dictionary) holds ``word``."""
        with self._jieba_lock:
            self._jieba.initialize()
        return self._jieba.FREQ.get(word, 0) > 0

    def grams(self, text: str) -> list[str]:
        """Character bigrams of the folded Chinese runs, plus whole Latin/digit words.

        A second lexical view that does not depend on jieba agreeing with itself: a question that
        segments "水泡击破" differently from the passage still shares its bigrams."""
        out: list[str] = []
        for run in _GRAM_RUN.findall(self.fold(text)):
            if _CJK.match(run):
                out.extend(run[i:i + 2] for i in range(max(1, len(run) - 1)))
            else:
                out.append(run)
        return out

    def fold_with_map(self, text: str) -> tuple[str, list[int]]:
        """Folded text plus, for each folded character, the index of the original character it
        came from; lets matches found in folded text be marked in the original."""
        get = self._char_fold.get
        parts = [get(ch) for ch in text]
        if None in parts:
            parts = [self._fold_char(ch) if part is None else part for ch, part in zip(text, parts)]
        folded = "".join(parts)
        if len(folded) == len(text) and "" not in parts:    # one character for one: the usual case
            return folded, list(range(len(text)))
        origin: list[int] = []
        for i, part in enumerate(parts):
            origin.extend([i] * len(part))
        return folded, origin

    def _fold_char(self, ch: str) -> str:
        folded = unicodedata.normalize("NFKC", ch).lower()
        if folded and not folded.isascii():
            with self._cc_lock:
                folded = self._t2s.convert(folded)
        if len(self._char_fold) < 100_000:
            self._char_fold[ch] = folded
        return folded


def match_terms(terms: list[str]) -> list[str]:
    """The distinct searchable terms, in order: the phrases of ``fts_match_expression``."""
    return list(dict.fromkeys(t for t in terms if _WORD.search(t)))


def fts_match_expression(terms: list[str]) -> str | None:
    """An FTS5 MATCH string ORing the terms, each a quoted phrase: no user text can be read
    as FTS syntax (quotes are doubled, operators end up inside phrases)."""
    unique = match_terms(terms)
    if not unique:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in unique)


def mark_terms(text: str, terms: list[str], analyzer: Analyzer, open_tag: str = "<mark>",
               close_tag: str = "</mark>") -> str:
    """``text`` with each occurrence of the (folded) terms wrapped in tags; HTML-escaped, so the
    result is safe to insert into a page. Longest terms win where they overlap."""
    import html

    folded, origin = analyzer.fold_with_map(text)
    marked = bytearray(len(text))
    # Single Chinese characters ("区", "家") would light up half the passage: mark them only
    # when the query has nothing longer.
    longer = [t for t in terms if len(t) > 1 or t.isascii()]
    for term in sorted(set(longer or terms), key=len, reverse=True):
        if not term:
            continue
        for m in re.finditer(re.escape(term), folded):
            for j in range(m.start(), m.end()):
                marked[origin[j]] = 1
    # Escaped run by run (escaping is per character, so this equals escaping each one).
    out, start = [], 0
    while start < len(text):
        on = marked[start]
        end = marked.find(0 if on else 1, start)
        end = len(text) if end < 0 else end
        run = html.escape(text[start:end], quote=False)
        out.append(open_tag + run + close_tag if on else run)
        start = end
    return "".join(out)
