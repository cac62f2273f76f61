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
        # stored string -> its term's id, or -(k + 1) where FTS5 splits it into the terms _multi[k]
        self._ids: dict[str, int] = {}
        self._multi: list[tuple[int, ...]] = []
        self._term_ids: list[np.ndarray] = []        # per batch: every occurrence's term id
        self._counts: list[np.ndarray] = []          # per batch: occurrences per passage
        self._rowids: list[np.ndarray] = []
        self._carried: list[tuple] = []               # add_postings: (term ids, rowids, tfs)
        self._carried_rows: list[tuple] = []          # ... (rowids, lengths)

    def add(self, rowids: Sequence[int], strings: Sequence[Sequence[str]]) -> None:
        # One C-level pass maps every occurrence to an id (a Python loop over the ~3x10^8
        # occurrences of 10^6 passages was most of the store build: bench/store.md).
        counts = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
        total = int(counts.sum())
        ids_of = self._ids
        try:
            ids = np.fromiter(map(ids_of.__getitem__, chain.from_iterable(strings)), dtype=np.int64, count=total)
        except KeyError:            # strings not seen before: FTS5 splits them, once each
            new = [s for s in dict.fromkeys(chain.from_iterable(strings)) if s not in ids_of]
            for s, parts in zip(new, tokenizer().split_words(new)):
                term_ids = tuple(self.terms.setdefault(t, len(self.terms)) for t in parts)
                if len(term_ids) == 1:
                    ids_of[s] = term_ids[0]
                else:
                    ids_of[s] = -len(self._multi) - 1
                    self._multi.append(term_ids)
            ids = np.fromiter(map(ids_of.__getitem__, chain.from_iterable(strings)), dtype=np.int64, count=total)
        split = ids < 0
        if split.any():             # strings of several terms (or none): their terms in their place
            sizes = np.ones(total, dtype=np.int64)
            sizes[split] = [len(self._multi[-i - 1]) for i in ids[split].tolist()]
            at = np.cumsum(sizes) - sizes
            expanded = np.repeat(ids, sizes)
            for pos, i in zip(at[split].tolist(), ids[split].tolist()):
                parts = self._multi[-i - 1]
                expanded[pos:pos + len(parts)] = parts
            counts = np.bincount(np.repeat(np.arange(len(counts)), counts), weights=sizes,
                                 minlength=len(counts)).astype(np.int64)
            ids = expanded
        self._term_ids.append(ids.astype(np.int32))
        self._counts.append(counts)
        self._rowids.append(np.array(rowids, dtype=np.int64))

    def add_postings(self, terms: Sequence[str], term_rowids: Sequence[np.ndarray], term_tfs: Sequence[np.ndarray],
                     rowids: np.ndarray, lengths: np.ndarray) -> None:
        """Passages carried over from a finished store, as its postings give them (read_view)."""
        ids = np.array([self.terms.setdefault(t, len(self.terms)) for t in terms], dtype=np.int64)
        sizes = np.array([len(r) for r in term_rowids], dtype=np.int64)
        self._carried.append((np.repeat(ids, sizes), np.concatenate(term_rowids or [np.zeros(0, np.int64)]),
                              np.concatenate(term_tfs or [np.zeros(0, np.int64)])))
        self._carried_rows.append((np.asarray(rowids, dtype=np.int64), np.asarray(lengths, dtype=np.int64)))

    def all_rowids(self) -> list[np.ndarray]:
        return [*self._rowids, *(r for r, _ in self._carried_rows), np.zeros(0, np.int64)]

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
        if self._carried:           # passages of other documents: no key repeats one above
            term_part, rowid_part, tf_part = (np.concatenate(x) for x in zip(*self._carried))
            keys = np.concatenate([keys, term_part * max(n, 1) + np.searchsorted(sorted_rowids, rowid_part)])
            tfs = np.concatenate([tfs, tf_part])
            order = np.argsort(keys, kind="stable")
            keys, tfs = keys[order], tfs[order]
            for rowids, carried_lengths in self._carried_rows:
                lengths[np.searchsorted(sorted_rowids, rowids)] = carried_lengths
        term_of, doc_of = np.divmod(keys, max(n, 1))
        starts = np.flatnonzero(np.diff(term_of, prepend=-1))
        names = list(self.terms)
        return [names[t] for t in term_of[starts]], starts, doc_of, tfs, lengths
