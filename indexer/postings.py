"""BM25 in numpy over posting arrays: the scores of FTS5's ``bm25()``, without an FTS5 index.

Ranking an OR query with FTS5 costs a bm25() call per matching row, and the common character
bigrams of a question match a large share of all passages: ~25 ms a view at 10^5 passages on the
2-core machine of bench/results.md. Here each term's passages and term frequencies are one BLOB
pair, and a query is a few vector operations. The terms are FTS5's own (its unicode61 tokenizer
splits every stored string: indexer/lexicon.py), and the arithmetic repeats fts5_aux.c's,
operation for operation and phrase by phrase, in float64: the scores are bit-for-bit those of an
FTS5 table over the same text (tests/test_postings.py builds one). A query term FTS5 would split
into several tokens is a phrase: its passages are those holding all its tokens, checked in order
against the view's stored text.

Packed (index format 2; in format 1 FTS5 tables held the same index a second time): a term's
passage numbers are stored as gaps in the narrowest unsigned integer that holds its largest gap
(most common terms' gaps fit a byte), and its term frequencies not at all when every one is 1
(most terms in 200-character passages); the table is keyed by (view, term) itself, so the terms
are not stored a second time in an index.

One module over ~400 lines: the scoring, its exact pruning (best) and phrase matching share the
decoded rows and fts5_aux.c's arithmetic, which must stay operation for operation the same.
"""
from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .lexicon import PostingsBuilder, tokenizer

K1 = 1.2            # fts5_aux.c bm25 constants
B = 0.75
# Decoded posting rows kept per view (passage numbers; ~16 bytes each with the frequencies): 32 MB
# at most, the rows of ~10 of the commonest bigrams at 10^6 passages.
CACHED_POSTINGS = 2_000_000
_SCHEMA = """
CREATE TABLE postings (view TEXT NOT NULL, term TEXT NOT NULL, docs BLOB NOT NULL, tfs BLOB NOT NULL,
                       PRIMARY KEY (view, term)) WITHOUT ROWID;
CREATE TABLE postings_rows (view TEXT PRIMARY KEY, rowids BLOB NOT NULL, lengths BLOB NOT NULL);
"""
# A query term made only of these characters is one FTS5 token (unicode61 with tokenchars '.%'):
# absent from the vocabulary means absent from the corpus. Any other term not in the vocabulary
# may be split by the tokenizer into a phrase (Postings.phrase).
_ONE_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffa-z0-9.%]+")


# best() (MaxScore): from PRUNED_FROM postings and passages; the rarest terms' first PROBE postings
# give the floor; the terms it needs are summed only if they hold at most ESSENTIAL of the postings
# (else every term is); sums kept in sorted lists while they touch fewer than 1/TRACKED of the
# passages, else over every passage; NEAR passages are few enough to score with every term.
# Chosen on the synthetic 10^6 store with bench/lexical.py (bench/scale_1e6.md).
PRUNED_FROM = 300_000
PROBE = 20_000
ESSENTIAL = 0.6
TRACKED = 8
NEAR = 1000


@dataclass(frozen=True)
class _Term:
    """One query term the view holds: its passage numbers, frequencies and idf."""

    docs: np.ndarray
    tf: np.ndarray
    most: float                           # the highest frequency
    idf: float

    @property
    def ones(self) -> bool:
        """Every frequency is 1."""
        return self.most == 1.0


def write(conn: sqlite3.Connection, builders: dict[str, PostingsBuilder]) -> None:
    """Posting arrays of each view from its collected term occurrences (indexer/lexicon.py)."""
    conn.executescript(_SCHEMA)
    rowids = np.array([r for r, in conn.execute("SELECT id FROM passages ORDER BY id")], dtype=np.int64)
    for view, builder in builders.items():
        if not np.array_equal(np.sort(np.concatenate(builder.all_rowids())), rowids):
            raise sqlite3.DatabaseError(f"the {view} terms were not collected for every stored passage")
        terms, starts, docs, tfs, lengths = builder.finish(rowids)
        conn.executemany("INSERT INTO postings VALUES (?, ?, ?, ?)", _rows(view, terms, starts, docs, tfs))
        conn.execute("INSERT INTO postings_rows VALUES (?, ?, ?)",
                     (view, rowids.tobytes(), lengths.astype(np.int32).tobytes()))
    conn.commit()


def read_view(conn: sqlite3.Connection, view: str, rowids: np.ndarray, schema: str = "main"):
    """The postings of the passages ``rowids`` in one view of a finished store (attached as
    ``schema``): (terms, each term's rowids, its term frequencies, the rowids, their lengths)."""
    all_rowids, lengths = conn.execute(f"SELECT rowids, lengths FROM {schema}.postings_rows WHERE view = ?",
                                       (view,)).fetchone()
    all_rowids = np.frombuffer(all_rowids, dtype=np.int64)
    wanted = np.isin(all_rowids, rowids)
    terms, term_rowids, term_tfs = [], [], []
    for term, raw_docs, raw_tfs in conn.execute(f"SELECT term, docs, tfs FROM {schema}.postings WHERE view = ?",
                                                (view,)):
        docs, tfs = unpack(raw_docs, raw_tfs)
        keep = wanted[docs]
        if keep.any():
            terms.append(term)
            term_rowids.append(all_rowids[docs[keep]])
            term_tfs.append(tfs[keep].astype(np.int64))
    return terms, term_rowids, term_tfs, all_rowids[wanted], np.frombuffer(lengths, dtype=np.int32)[wanted]


_GAP_TYPES = {1: np.uint8, 2: np.uint16, 4: np.uint32}


def _rows(view: str, terms: list[str], starts: np.ndarray, docs: np.ndarray, tfs: np.ndarray):
    """Each term's row: passage numbers as gaps (a width byte, then uint8/16/32 gaps, the first
    from 0) and term frequencies (nothing when all are 1, else uint8, or uint16 if needed).
    ``docs``/``tfs``: every term's ascending passage numbers and counts, one after the other."""
    if not terms:
        return
    gaps = np.diff(docs, prepend=0)
    gaps[starts] = docs[starts]
    widest = np.maximum.reduceat(gaps, starts)
    most = np.maximum.reduceat(tfs, starts)
    ends = [*starts[1:].tolist(), len(docs)]
    for term, a, b, gap, tf in zip(terms, starts.tolist(), ends, widest.tolist(), most.tolist()):
        width = 1 if gap < 256 else 2 if gap < 65536 else 4
        packed = bytes([width]) + gaps[a:b].astype(_GAP_TYPES[width]).tobytes()
        freqs = b"" if tf == 1 else tfs[a:b].astype(np.uint8 if tf < 256 else np.uint16).tobytes()
        yield view, term, packed, freqs


def _decoded(raw_docs: bytes, raw_tfs: bytes) -> tuple[np.ndarray, np.ndarray, float]:
    """``unpack``, and the highest frequency (1 without stored frequencies)."""
    docs, tf = unpack(raw_docs, raw_tfs)
    return docs, tf, float(tf.max()) if raw_tfs else 1.0


def unpack(raw_docs: bytes, raw_tfs: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(passage numbers, term frequencies as float64) of one stored posting row."""
    docs = np.cumsum(np.frombuffer(raw_docs, dtype=_GAP_TYPES[raw_docs[0]], offset=1), dtype=np.int64)
    if not raw_tfs:
        return docs, np.ones(len(docs))
    return docs, np.frombuffer(raw_tfs, dtype=np.uint8 if len(raw_tfs) == len(docs) else np.uint16).astype(np.float64)


class Postings:
    """One lexical view of a finished store, for scoring queries."""

    def __init__(self, conn_of, view: str, rowids: np.ndarray, lengths: np.ndarray, texts_of=None) -> None:
        self._conn_of = conn_of           # -> this thread's sqlite3 connection
        self._texts_of = texts_of         # (view, rowids) -> the view's column texts, for phrases
        self.view = view
        self.rowids = rowids              # ascending; passage number = position
        self._lengths = lengths.astype(np.float64)
        self.rows = len(rowids)
        self.avgdl = float(lengths.sum()) / float(max(self.rows, 1))
        self._per: tuple[np.ndarray, np.ndarray] | None = None
        self._extremes = (0.0, 0.0)       # the smallest length term, the largest one-occurrence share
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray, bool]] = OrderedDict()
        self._cached = 0                  # postings held by the cache
        self._cache_lock = threading.Lock()

    @classmethod
    def open(cls, conn_of, view: str, texts_of=None) -> "Postings | None":
        conn = conn_of()
        try:
            row = conn.execute("SELECT rowids, lengths FROM postings_rows WHERE view = ?", (view,)).fetchone()
        except sqlite3.OperationalError:      # a store from before postings
            return None
        if row is None:
            return None
        return cls(conn_of, view, np.frombuffer(row[0], dtype=np.int64), np.frombuffer(row[1], dtype=np.int32),
                   texts_of)

    def _fetch(self, terms: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
        """Each term's (passage numbers, term frequencies, the highest frequency), for the
        terms the view has. Recently read rows are kept decoded (a bounded LRU): a question's
        bigrams are read for the typo check and again for scoring, and common terms recur across
        questions."""
        found: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        missing = []
        with self._cache_lock:
            for term in dict.fromkeys(terms):
                row = self._cache.get(term)
                if row is None:
                    missing.append(term)
                else:
                    self._cache.move_to_end(term)
                    found[term] = row
        fresh = {}
        for i in range(0, len(missing), 500):
            chunk = missing[i:i + 500]
            fresh.update((t, _decoded(d, f)) for t, d, f in self._conn_of().execute(
                f"SELECT term, docs, tfs FROM postings WHERE view = ? AND term IN ({','.join('?' * len(chunk))})",
                [self.view, *chunk]))
        for docs, tf, _ in fresh.values():       # shared from now on
            docs.flags.writeable = tf.flags.writeable = False
        if fresh:
            with self._cache_lock:
                for term, row in fresh.items():
                    if term not in self._cache:
                        self._cache[term] = row
                        self._cached += len(row[0])
                while self._cached > CACHED_POSTINGS and len(self._cache) > 1:
                    self._cached -= len(self._cache.popitem(last=False)[1][0])
            found.update(fresh)
        return found

    def passage_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """How many passages hold each of ``terms`` the view has (absent terms are left out)."""
        return {term: len(row[0]) for term, row in self._fetch(terms).items()}

    def _matched(self, terms: Sequence[str]) -> list[_Term] | None:
        """The terms of ``terms`` (MATCH order) that occur in the view, with their postings and idf.
        None only when the view cannot read its passages' text for a phrase of several tokens."""
        found = self._fetch(terms)
        out = []
        for term in terms:
            if term in found:
                docs, tf, most = found[term]
            elif _ONE_TOKEN.fullmatch(term):
                continue                  # not in the corpus: adds 0 to every passage, as in FTS5
            else:                         # FTS5 splits it: a phrase of its tokens
                hit = self.phrase(tokenizer().split([term])[0])
                if hit is None:
                    return None
                docs, tf = hit
                if not len(docs):
                    continue
                most = float(tf.max())
            # fts5_aux.c: idf = log((N - nHit + 0.5) / (nHit + 0.5)), floored at 1e-6
            idf = math.log((self.rows - len(docs) + 0.5) / (len(docs) + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            out.append(_Term(docs, tf, most, idf))
        return out

    def _contributions(self, term: _Term, where: np.ndarray | None = None) -> np.ndarray:
        """One term's share of the score of its passages (``where``: positions in its postings)."""
        norm, unit = self._per_passage()
        docs = term.docs if where is None else term.docs[where]
        if term.ones:       # the same floats: 1.0 * (k1 + 1.0) is k1 + 1.0, and 1.0 + norm is unit's divisor
            return term.idf * unit[docs]
        tf = term.tf if where is None else term.tf[where]
        # score += aIDF[i] * ((aFreq[i] * (k1 + 1.0)) / (aFreq[i] + k1 * (1 - b + b * D / avgdl)))
        return term.idf * ((tf * (K1 + 1.0)) / (tf + norm[docs]))

    def scores(self, terms: Sequence[str]) -> np.ndarray | None:
        """BM25 of every passage (0 where no term occurs) for the OR of ``terms`` (distinct, in
        the order of the FTS5 MATCH expression): each term is a phrase, as in that expression.
        None only when the view cannot read its passages' text for a phrase of several tokens."""
        matched = self._matched(terms)
        return None if matched is None else self._summed(matched)

    def _summed(self, matched: list[_Term]) -> np.ndarray:
        """Every passage's sum of the terms' shares (0 where it holds none)."""
        if not matched:
            return np.zeros(self.rows)
        # bincount adds in input order: each passage's sum runs over the terms in MATCH order,
        # as fts5_aux.c's loop over phrases does
        return np.bincount(np.concatenate([t.docs for t in matched]),
                           weights=np.concatenate([self._contributions(t) for t in matched]), minlength=self.rows)

    def scores_of(self, matched: list[_Term], numbers: np.ndarray) -> np.ndarray:
        """The scores of passages ``numbers`` (ascending, distinct) alone, the floats of
        ``scores()``: each passage's sum over the terms in MATCH order (adding 0.0 for a term a
        passage lacks changes nothing)."""
        out = np.zeros(len(numbers))
        if not len(numbers):
            return out
        for term in matched:
            self._add_shares(term, numbers, out)
        return out

    def _add_shares(self, term: _Term, numbers: np.ndarray, out: np.ndarray) -> None:
        """Add ``term``'s shares of passages ``numbers`` (ascending, distinct) to ``out``."""
        if len(term.docs) < len(numbers):        # look the shorter list up in the longer
            at = np.minimum(np.searchsorted(numbers, term.docs), len(numbers) - 1)
            hit = numbers[at] == term.docs
            out[at[hit]] += self._contributions(term, np.flatnonzero(hit))
        else:
            at = np.minimum(np.searchsorted(term.docs, numbers), len(term.docs) - 1)
            hit = term.docs[at] == numbers
            out[hit] += self._contributions(term, at[hit])

    def best(self, terms: Sequence[str], limit: int, allowed: np.ndarray | None = None):
        """(rowids, scores, score_of) for the OR of ``terms``: the ``limit`` best passages as
        ``top(scores(terms), limit, allowed)`` gives them, and a function giving the score of any
        passage numbers (ascending), the same floats. None when ``scores()`` is None.

        Most of a question's postings belong to terms that add little to any score (年 is in most
        passages of a large archive, with an idf of ~1 or less, 1e-6 past half), yet they cost most
        of its time at 10^6 passages. So the rarest terms are summed first, and the ``limit``-th
        exact score among their best passages is a floor under the final ``limit``-th; terms are
        summed from the largest possible share down only until the others' largest possible shares
        together fall below that floor, and the passages summed are narrowed, term by term, by what the other terms may add to each (bm25's share
        falls with a passage's length), until the few left are scored with every term in MATCH
        order, as scores() adds them. A passage left out cannot reach the top (MaxScore, exact).
        Below ~300,000 postings and passages together, summing every term is as quick.
        """
        matched = self._matched(terms)
        if matched is None:
            return None
        if len(matched) > 1 and limit > 0:
            found = self._max_score(matched, limit, allowed)
            if found is not None:
                return (*found, lambda wanted: self.scores_of(matched, wanted))
        scores = self._summed(matched)
        ids, top = self.top(scores, limit, allowed)
        return ids, top, scores.__getitem__

    def _max_score(self, matched: list[_Term], limit: int, allowed: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray] | None:
        """``best``'s top from the terms it cannot leave out; None where those hold most of the
        postings (summing every term costs less)."""
        by_bound = sorted(((self._bound(t), n, t) for n, t in enumerate(matched)), key=lambda b: (-b[0], b[1]))
        bounds = [b for b, _, _ in by_bound]
        terms = [t for _, _, t in by_bound]
        sizes = np.cumsum([len(t.docs) for t in terms])
        if sizes[-1] + self.rows < PRUNED_FROM:
            return None               # summing every term is as quick: its cost, postings and passages
        # a floor under the final limit-th best: the limit-th exact score among the best passages
        # by the rarest terms
        probe = max(1, int(np.searchsorted(sizes, PROBE, side="right")))
        floor = self._floor(matched, *self._partial(terms[:probe], allowed), limit)
        if floor is None:
            return None
        # the fewest terms whose rest cannot reach it
        need = next(n for n in range(1, len(terms) + 1) if sum(bounds[n:]) * (1 + 1e-9) < floor)
        if sizes[need - 1] > ESSENTIAL * sizes[-1]:
            return None
        numbers, sums = self._partial(terms[:need], allowed)
        floor = max(floor, self._floor(matched, numbers, sums, limit) or 0.0)
        most = sum(bounds[need:]) * (1 + 1e-9)       # float slack: the sums ran in another order
        keep = (sums + most) * (1 + 1e-9) >= floor
        numbers, sums = numbers[keep], sums[keep]
        # the rest added one by one to those left, each time dropping those that cannot reach the
        # floor with what the others may add (bm25's share falls with a passage's length)
        rest = terms[need:]
        for k in range(len(rest) + 1):
            keep = (sums + self._reach(rest[k:], numbers)) * (1 + 1e-9) >= floor
            numbers, sums = numbers[keep], sums[keep]
            if k == len(rest) or len(numbers) <= NEAR:
                break
            self._add_shares(rest[k], numbers, sums)
        return self._best_of(numbers, self.scores_of(matched, numbers), limit)

    def _partial(self, terms: list[_Term], allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(passage numbers, ascending; their sums of the shares of ``terms``) of the passages
        holding one, under ``allowed``; the sums in another order than scores()'s."""
        docs = np.concatenate([t.docs for t in terms])
        shares = np.concatenate([self._contributions(t) for t in terms])
        if len(docs) * TRACKED > self.rows:
            summed = np.bincount(docs, weights=shares, minlength=self.rows)
            numbers = np.flatnonzero(summed != 0)     # every share is positive
            sums = summed[numbers]
        else:                         # a stable sort of ascending runs merges them
            order = np.argsort(docs, kind="stable")
            docs = docs[order]
            first = np.empty(len(docs), dtype=bool)
            first[:1] = True
            np.not_equal(docs[1:], docs[:-1], out=first[1:])
            numbers, sums = docs[first], np.bincount(np.cumsum(first) - 1, weights=shares[order])
        if allowed is not None:
            keep = np.isin(self.rowids[numbers], allowed)
            numbers, sums = numbers[keep], sums[keep]
        return numbers, sums

    def _floor(self, matched: list[_Term], numbers: np.ndarray, sums: np.ndarray, limit: int) -> float | None:
        """The ``limit``-th best exact score of the ``limit`` passages with the best ``sums``: no
        higher than the final ``limit``-th best. None with fewer passages."""
        if len(numbers) < limit:
            return None
        lead = np.sort(numbers[np.argpartition(-sums, limit - 1)[:limit]])
        return float(self.scores_of(matched, lead).min())

    def _reach(self, terms: list[_Term], numbers: np.ndarray) -> np.ndarray:
        """The most ``terms`` can add to the scores of passages ``numbers``: each term's highest
        frequency in each passage's length."""
        norm, unit = self._per_passage()
        out = sum(t.idf for t in terms if t.ones) * unit[numbers]
        by_most: dict[float, float] = {}
        for t in terms:
            if not t.ones:
                by_most[t.most] = by_most.get(t.most, 0.0) + t.idf
        for most, idf in by_most.items():
            out += idf * ((most * (K1 + 1.0)) / (most + norm[numbers]))
        return out

    def _bound(self, term: _Term) -> float:
        """The largest share of a passage's score ``term`` gives: its highest frequency in the
        shortest passage (bm25's share grows with the frequency and falls with the length)."""
        self._per_passage()
        shortest, unit = self._extremes
        if term.ones:
            return term.idf * unit
        return term.idf * ((term.most * (K1 + 1.0)) / (term.most + shortest))

    def _per_passage(self) -> tuple[np.ndarray, np.ndarray]:
        """bm25's length term ``k1 * (1 - b + b * D / avgdl)`` of every passage, and a passage's
        score for one occurrence of a term before the idf: computed once, not per query and term."""
        if self._per is None:
            norm = K1 * (1 - B + B * self._lengths / self.avgdl)
            unit = (1.0 * (K1 + 1.0)) / (1.0 + norm)
            self._extremes = (float(norm.min()), float(unit.max())) if self.rows else (0.0, 0.0)
            self._per = norm, unit
        return self._per

    def candidates(self, tokens: Sequence[str]) -> np.ndarray:
        """Passage numbers holding every one of ``tokens`` (FTS5 terms), ascending."""
        found = self._fetch(tokens)
        if not tokens or any(t not in found for t in tokens):
            return np.zeros(0, dtype=np.int64)
        parts = sorted((found[t][0] for t in dict.fromkeys(tokens)), key=len)
        out = parts[0]
        for other in parts[1:]:
            out = out[np.isin(out, other, assume_unique=True)]
        return out

    def phrase(self, tokens: Sequence[str], among: np.ndarray | None = None, first_only: bool = False
               ) -> tuple[np.ndarray, np.ndarray] | None:
        """(passage numbers, occurrences) of the passages where ``tokens`` occur one after the
        other, as an FTS5 phrase matches (every start position counts); ``among`` narrows the
        candidates, ``first_only`` stops at the first passage found. None without the texts."""
        if len(tokens) == 1:
            docs, tf, _ = self._fetch(tokens).get(tokens[0], (np.zeros(0, np.int64), np.zeros(0), 1.0))
            keep = np.ones(len(docs), bool) if among is None else np.isin(docs, among)
            return docs[keep][:1 if first_only else None], tf[keep][:1 if first_only else None]
        if not tokens:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if self._texts_of is None:
            return None
        cands = self.candidates(tokens)
        if among is not None:
            cands = cands[np.isin(cands, among)]
        k, want = len(tokens), list(tokens)
        docs, tfs = [], []
        step = 16
        i = 0
        while i < len(cands):
            chunk = cands[i:i + step]
            seqs = tokenizer().split(self._texts_of(self.view, self.rowids[chunk].tolist()))
            for number, seq in zip(chunk.tolist(), seqs):
                n = sum(1 for j in range(len(seq) - k + 1) if seq[j:j + k] == want)
                if n:
                    docs.append(number)
                    tfs.append(n)
            if first_only and docs:
                break
            i += step
            step = min(step * 4, 1024)
        return np.array(docs[:1] if first_only else docs, dtype=np.int64), np.array(
            tfs[:1] if first_only else tfs, dtype=np.float64)

    def numbers(self, rowids: np.ndarray) -> np.ndarray:
        """Passage numbers of rowids known to the store."""
        return np.searchsorted(self.rowids, rowids)

    def top(self, scores: np.ndarray, limit: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, scores) of the ``limit`` best matching passages, best first, ties by rowid (the
        order of FTS5's ``ORDER BY rank LIMIT``)."""
        matched = np.flatnonzero(scores != 0)          # 5x faster on a bool array than on floats
        if allowed is not None:
            matched = matched[np.isin(self.rowids[matched], allowed)]
        return self._best_of(matched, scores[matched], limit)

    def _best_of(self, numbers: np.ndarray, s: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """``top`` of the passages ``numbers`` (ascending) scored ``s``."""
        if len(numbers) > limit:
            keep = np.argpartition(-s, limit - 1)[:limit]
            cut = s[keep].min()
            keep = np.flatnonzero(s >= cut)       # every tie at the cut, then the lowest rowids
            numbers, s = numbers[keep], s[keep]
        order = np.lexsort((numbers, -s))[:limit]
        return self.rowids[numbers[order]], s[order]
