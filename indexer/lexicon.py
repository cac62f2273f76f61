"""The terms of the lexical views as FTS5 sees them, without keeping an FTS5 index in the store.

The posting arrays (indexer/postings.py) are the one copy of the lexical index. Their terms are
still FTS5's: each distinct jieba token or bigram is split by FTS5's own unicode61 tokenizer (in
an in-memory table, ``FtsTokenizer``), once per distinct string, and a passage's terms are its
strings' splits in order. That equals FTS5 tokenizing the space-joined column, because spaces
always separate tokens. ``PostingsBuilder`` counts them in one pass with numpy: no FTS5 index is
built, merged or read back at 10^6 passages (bench/store.md has the stage times before and after).
"""
from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence
from itertools import chain

import numpy as np

TOKENIZE = "unicode61 remove_diacritics 0 tokenchars '.%'"   # the FTS5 tokenizer of format 1's tables


class FtsTokenizer:
    """FTS5's tokenizer on demand: ``split(texts)`` gives each text's tokens in order."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, content='', tokenize = \"{TOKENIZE}\")")
        self._conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        self._lock = threading.Lock()
        self._plain: re.Pattern | None = None

    def split(self, texts: Sequence[str]) -> list[list[str]]:
        out: list[list[tuple[int, str]]] = [[] for _ in texts]
        with self._lock:
            self._conn.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", enumerate(texts, 1))
            for doc, term, offset in self._conn.execute("SELECT doc, term, offset FROM v"):
                out[doc - 1].append((offset, term))
            self._conn.execute("INSERT INTO t(t) VALUES ('delete-all')")
        return [[term for _, term in sorted(found)] for found in out]

    def split_words(self, words: Sequence[str]) -> list[list[str]]:
        """``split`` of many short strings, fast: a string made only of characters that FTS5 keeps
        as they are, inside one token (checked once per process, ``_plain_token``), is its own
        one token; only the others go through FTS5 (asking FTS5 costs ~20 us a token)."""
        plain = self._plain_token()
        other = [w for w in words if not plain.fullmatch(w)]
        split = dict(zip(other, self.split(other))) if other else {}
        return [split[w] if w in split else [w] for w in words]

    def _plain_token(self) -> re.Pattern:
        """The characters of CJK runs and Latin/digit words (what jieba tokens and bigrams are
        mostly made of) that this SQLite's unicode61 tokenizer treats as token characters and
        leaves unchanged: a run of them is one FTS5 token, itself."""
        with self._lock:
            if self._plain is not None:
                return self._plain
        chars = [chr(c) for lo, hi in _PLAIN_RANGES for c in range(lo, hi + 1)]
        run = "".join(chars[::499])       # and a run of them stays one token
        if self.split([" ".join(chars)])[0] == chars and self.split([run])[0] == [run]:
            kept = chars
        else:                   # another SQLite's tables: find the characters one by one
            kept = [c for c, t in zip(chars, self.split(chars)) if t == [c]]
        plain = re.compile("[" + "".join(re.escape(c) for c in kept) + "]+")
        with self._lock:
            self._plain = plain
        return plain


_PLAIN_RANGES = [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (ord("a"), ord("z")), (ord("0"), ord("9")), (ord("."), ord(".")),
                 (ord("%"), ord("%"))]


_shared: FtsTokenizer | None = None
_shared_lock = threading.Lock()


def tokenizer() -> FtsTokenizer:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FtsTokenizer()
        return _shared


class PostingsBuilder:
    """Term occurrences of one lexical view, collected batch by batch as passages are stored."""

    def __init__(self) -> None:
        self.terms: dict[str, int] = {}              # FTS5 term -> id
        self._split: dict[str, tuple[int, ...]] = {}  # stored string -> its terms' ids
        self._single: dict[str, int] = {}             # ... where that is one term
        self._term_ids: list[np.ndarray] = []        # per batch: every occurrence's term id
        self._counts: list[np.ndarray] = []          # per batch: occurrences per passage
        self._rowids: list[np.ndarray] = []

    def add(self, rowids: Sequence[int], strings: Sequence[Sequence[str]]) -> None:
        distinct = dict.fromkeys(chain.from_iterable(strings))
        new = [s for s in distinct if s not in self._split]
        for s, parts in zip(new, tokenizer().split_words(new) if new else []):
            ids = self._split[s] = tuple(self.terms.setdefault(t, len(self.terms)) for t in parts)
            if len(ids) == 1:
                self._single[s] = ids[0]
        single = self._single
        if all(s in single for s in distinct):      # the usual batch: every string one term
            counts = [len(strs) for strs in strings]
            flat = np.fromiter(map(single.__getitem__, chain.from_iterable(strings)), dtype=np.int32,
                               count=sum(counts))
        else:
            split = self._split
            ids_of = [list(chain.from_iterable(map(split.__getitem__, strs))) for strs in strings]
            counts = [len(ids) for ids in ids_of]
            flat = np.array(list(chain.from_iterable(ids_of)), dtype=np.int32)
        self._term_ids.append(flat)
        self._counts.append(np.array(counts, dtype=np.int64))
        self._rowids.append(np.array(rowids, dtype=np.int64))

    def finish(self, sorted_rowids: np.ndarray):
        """(terms, per term: passage numbers and term frequencies, lengths per passage number).
        Passage number = position of the rowid in ``sorted_rowids``."""
        n = len(sorted_rowids)
        numbers = np.searchsorted(sorted_rowids, np.concatenate(self._rowids or [np.zeros(0, np.int64)]))
        counts = np.concatenate(self._counts or [np.zeros(0, np.int64)])
        lengths = np.zeros(n, dtype=np.int64)
        lengths[numbers] = counts
        # one int64 key per occurrence, term-major: sorting them groups each term's passages
        keys = np.concatenate(self._term_ids or [np.zeros(0, np.int32)]).astype(np.int64)
        self._term_ids.clear()
        keys *= max(n, 1)
        keys += np.repeat(numbers, counts)
        keys, tfs = np.unique(keys, return_counts=True)
        term_of, doc_of = np.divmod(keys, max(n, 1))
        starts = np.flatnonzero(np.diff(term_of, prepend=-1))
        names = list(self.terms)
        return [names[t] for t in term_of[starts]], starts, doc_of, tfs, lengths
