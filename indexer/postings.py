"""BM25 over the FTS5 indexes, in numpy: the scores of FTS5's ``bm25()``, computed from posting
arrays instead of row by row.

Ranking an OR query with FTS5 costs a bm25() call per matching row, and the common character
bigrams of a question match a large share of all passages: ~25 ms a view at 10^5 passages on the
2-core machine of bench/results.md. Here each term's passages and term frequencies are one BLOB
pair, read straight from FTS5's own index when the store is finished (``fts5vocab`` instance
table, so tokenisation is FTS5's, not a re-implementation), and a query is a few vector
operations. The arithmetic repeats fts5_aux.c's, operation for operation and phrase by phrase, in
float64: the scores are bit-for-bit FTS5's (tests/test_postings.py).

Stores written before this module have no postings tables; the searcher then asks FTS5.

Packed (index format 2): a term's passage numbers are stored as gaps in the narrowest unsigned
integer that holds its largest gap (most common terms' gaps fit a byte), and its term
frequencies not at all when every one is 1 (most terms in 200-character passages); the table is
keyed by (view, term) itself, so the terms are not stored a second time in an index.
"""
from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Sequence

import numpy as np

K1 = 1.2            # fts5_aux.c bm25 constants
B = 0.75
_SCHEMA = """
CREATE TABLE postings (view TEXT NOT NULL, term TEXT NOT NULL, docs BLOB NOT NULL, tfs BLOB NOT NULL,
                       PRIMARY KEY (view, term)) WITHOUT ROWID;
CREATE TABLE postings_rows (view TEXT PRIMARY KEY, rowids BLOB NOT NULL, lengths BLOB NOT NULL);
"""
# A query term made only of these characters is one FTS5 token (unicode61 with tokenchars '.%'):
# absent from the vocabulary means absent from the corpus. Any other term not in the vocabulary
# may be split by the tokenizer into a phrase, which only FTS5 can match.
_ONE_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffa-z0-9.%]+")
_CHUNK = 4_000_000   # instances per group_concat read


def write(conn: sqlite3.Connection, tables: dict[str, str]) -> None:
    """Posting arrays of each FTS5 table (``{view: table}``), from its finished index."""
    conn.executescript(_SCHEMA)
    rowids = np.array([r for r, in conn.execute("SELECT id FROM passages ORDER BY id")], dtype=np.int64)
    for view, table in tables.items():
        vocab, inst = f"temp.vocab_row_{view}", f"temp.vocab_instance_{view}"
        conn.execute(f"CREATE VIRTUAL TABLE {vocab} USING fts5vocab(main, {table}, 'row')")
        conn.execute(f"CREATE VIRTUAL TABLE {inst} USING fts5vocab(main, {table}, 'instance')")
        try:
            rows = conn.execute(f"SELECT term, cnt FROM {vocab}").fetchall()
            lengths = np.zeros(len(rowids), dtype=np.int64)
            for first, last in _term_ranges([c for _, c in rows]):
                docs = _read_docs(conn, inst, rows[first][0], rows[last - 1][0])
                if len(docs) != sum(c for _, c in rows[first:last]):
                    raise sqlite3.DatabaseError(f"fts5vocab of {table} changed while it was read")
                numbers = np.searchsorted(rowids, docs)
                lengths += np.bincount(numbers, minlength=len(rowids))
                ends = np.cumsum([c for _, c in rows[first:last]])
                conn.executemany("INSERT INTO postings VALUES (?, ?, ?, ?)",
                                 (_posting(view, term, part) for (term, _), part in
                                  zip(rows[first:last], np.split(numbers, ends[:-1]))))
        finally:
            conn.execute(f"DROP TABLE {vocab}")
            conn.execute(f"DROP TABLE {inst}")
        conn.execute("INSERT INTO postings_rows VALUES (?, ?, ?)",
                     (view, rowids.tobytes(), lengths.astype(np.int32).tobytes()))
    conn.commit()


def _term_ranges(counts: list[int]):
    """[first, last) index ranges of terms with about _CHUNK instances together."""
    first, total = 0, 0
    for i, c in enumerate(counts):
        total += c
        if total >= _CHUNK:
            yield first, i + 1
            first, total = i + 1, 0
    if first < len(counts):
        yield first, len(counts)


def _read_docs(conn: sqlite3.Connection, inst: str, first: str, last: str) -> np.ndarray:
    """The doc (rowid) of every instance of the terms first..last, in index order."""
    text, = conn.execute(f"SELECT group_concat(doc) FROM {inst} WHERE term >= ? AND term <= ?",
                         (first, last)).fetchone()
    return np.array(text.split(","), dtype=np.int64) if text else np.zeros(0, dtype=np.int64)


_GAP_TYPES = {1: np.uint8, 2: np.uint16, 4: np.uint32}


def _posting(view: str, term: str, numbers: np.ndarray) -> tuple:
    """One term's row: passage numbers as gaps (a width byte, then uint8/16/32 gaps, the first
    from 0) and term frequencies (nothing when all are 1, else uint8, or uint16 if needed)."""
    docs, tfs = np.unique(numbers, return_counts=True)
    gaps = np.diff(docs, prepend=0)
    width = next(w for w, t in _GAP_TYPES.items() if gaps.max() <= np.iinfo(t).max)
    packed = bytes([width]) + gaps.astype(_GAP_TYPES[width]).tobytes()
    if tfs.max() == 1:
        return view, term, packed, b""
    return view, term, packed, tfs.astype(np.uint8 if tfs.max() < 256 else np.uint16).tobytes()


def unpack(raw_docs: bytes, raw_tfs: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(passage numbers, term frequencies as float64) of one stored posting row."""
    docs = np.cumsum(np.frombuffer(raw_docs, dtype=_GAP_TYPES[raw_docs[0]], offset=1), dtype=np.int64)
    if not raw_tfs:
        return docs, np.ones(len(docs))
    return docs, np.frombuffer(raw_tfs, dtype=np.uint8 if len(raw_tfs) == len(docs) else np.uint16).astype(np.float64)


class Postings:
    """One lexical view of a finished store, for scoring queries."""

    def __init__(self, conn_of, view: str, rowids: np.ndarray, lengths: np.ndarray) -> None:
        self._conn_of = conn_of           # -> this thread's sqlite3 connection
        self.view = view
        self.rowids = rowids              # ascending; passage number = position
        self._lengths = lengths.astype(np.float64)
        self.rows = len(rowids)
        self.avgdl = float(lengths.sum()) / float(max(self.rows, 1))

    @classmethod
    def open(cls, conn_of, view: str) -> "Postings | None":
        conn = conn_of()
        try:
            row = conn.execute("SELECT rowids, lengths FROM postings_rows WHERE view = ?", (view,)).fetchone()
        except sqlite3.OperationalError:      # a store from before postings
            return None
        if row is None:
            return None
        return cls(conn_of, view, np.frombuffer(row[0], dtype=np.int64), np.frombuffer(row[1], dtype=np.int32))

    def scores(self, terms: Sequence[str]) -> np.ndarray | None:
        """BM25 of every passage (0 where no term occurs) for the OR of ``terms`` (distinct, in
        the order of the FTS5 MATCH expression), or None when only FTS5 can match a term."""
        found: dict[str, tuple[bytes, bytes]] = {}
        unique = list(dict.fromkeys(terms))
        for i in range(0, len(unique), 500):
            chunk = unique[i:i + 500]
            found.update((t, (d, f)) for t, d, f in self._conn_of().execute(
                f"SELECT term, docs, tfs FROM postings WHERE view = ? AND term IN ({','.join('?' * len(chunk))})",
                [self.view, *chunk]))
        docs_parts, score_parts = [], []
        for term in terms:
            if term not in found:
                if not _ONE_TOKEN.fullmatch(term):
                    return None
                continue                  # not in the corpus: adds 0 to every passage, as in FTS5
            docs, tf = unpack(*found[term])
            # fts5_aux.c: idf = log((N - nHit + 0.5) / (nHit + 0.5)), floored at 1e-6
            idf = math.log((self.rows - len(docs) + 0.5) / (len(docs) + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            d = self._lengths[docs]
            # score += aIDF[i] * ((aFreq[i] * (k1 + 1.0)) / (aFreq[i] + k1 * (1 - b + b * D / avgdl)))
            score_parts.append(idf * ((tf * (K1 + 1.0)) / (tf + K1 * (1 - B + B * d / self.avgdl))))
            docs_parts.append(docs)
        if not docs_parts:
            return np.zeros(self.rows)
        # bincount adds in input order: each passage's sum runs over the terms in MATCH order,
        # as fts5_aux.c's loop over phrases does
        return np.bincount(np.concatenate(docs_parts), weights=np.concatenate(score_parts), minlength=self.rows)

    def numbers(self, rowids: np.ndarray) -> np.ndarray:
        """Passage numbers of rowids known to the store."""
        return np.searchsorted(self.rowids, rowids)

    def top(self, scores: np.ndarray, limit: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, scores) of the ``limit`` best matching passages, best first, ties by rowid (the
        order of FTS5's ``ORDER BY rank LIMIT``)."""
        matched = np.flatnonzero(scores)
        if allowed is not None:
            matched = matched[np.isin(self.rowids[matched], allowed)]
        s = scores[matched]
        if len(matched) > limit:
            keep = np.argpartition(-s, limit - 1)[:limit]
            cut = s[keep].min()
            keep = np.flatnonzero(s >= cut)       # every tie at the cut, then the lowest rowids
            matched, s = matched[keep], s[keep]
        order = np.lexsort((matched, -s))[:limit]
        return self.rowids[matched[order]], s[order]
