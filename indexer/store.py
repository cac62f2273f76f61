"""The passage store: one SQLite file holding documents, passages and the posting arrays of their
two lexical views (jieba tokens, character bigrams). Readable with any SQLite client::

    sqlite3 index/gen-*/passages.sqlite "select source, paragraph, section, text from passages limit 3"
"""
from __future__ import annotations

import itertools
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

import numpy as np

from . import lexicon, postings
from .errors import IndexCorrupt
from .lexicon import PostingsBuilder
from .manifest import fsync_file, repair_hint_from_disk
from .records import Document, Passage, passage_key, passage_rowid

STORE_FILE = "passages.sqlite"
MMAP_BYTES = 1 << 36        # StoreReader: map the whole file (SQLite caps it at its own limit)

# Format 2 (indexer/manifest.py FORMAT_VERSION) keeps each thing once (bench/store.md measured
# what each table cost in format 1): the lexical index is the posting arrays alone, with no FTS5
# tables beside them (indexer/lexicon.py); no passage_id column (it is "<source>#<paragraph>",
# its rowid a hash of it); ``clean`` only where it differs from ``text``; no token or bigram
# columns (derived from ``clean`` again where a phrase needs them: StoreReader.view_texts); a
# document's text without the passages' text.
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    source   TEXT PRIMARY KEY,
    title    TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    encoding TEXT NOT NULL,
    chars    INTEGER NOT NULL,
    text     TEXT NOT NULL,             -- the extracted text passages' offsets index into; when
                                        -- outside = 1 only its parts outside the passages, in order
    kind     TEXT NOT NULL DEFAULT 'text',  -- the reader: text, pdf, image, docx, html
    pages    TEXT NOT NULL DEFAULT '[]',    -- PDFs: JSON [[page, start, end], ...] into text
    outside  INTEGER NOT NULL DEFAULT 0     -- 1: the passages' text fills the rest (document_text)
);
CREATE TABLE passages (
    id         INTEGER PRIMARY KEY,       -- passage_rowid("<source>#<paragraph>"); also the FAISS id
    source     TEXT NOT NULL REFERENCES documents(source),
    paragraph  INTEGER NOT NULL,
    section    TEXT NOT NULL,             -- JSON array, outermost heading first
    start      INTEGER NOT NULL,          -- character offsets into documents.text
    "end"      INTEGER NOT NULL,
    text       TEXT NOT NULL,             -- == substr(documents.text, start + 1, end - start)
    clean      TEXT,                      -- what was embedded and tokenised; NULL: the same as text
    spans      TEXT NOT NULL,             -- JSON [[start, end], ...] of the body lines
    pages      TEXT NOT NULL DEFAULT '[]' -- PDFs: JSON [[page, start, end], ...] of the passage's parts
);
CREATE INDEX passages_by_source ON passages(source, paragraph);
"""

_PASSAGE_COLUMNS = "id, source, paragraph, section, start, \"end\", text, clean, spans, pages"
_DOCUMENT_COLUMNS = "source, title, sha256, encoding, chars, text, kind, pages, outside"
VIEWS = ("words", "grams")      # jieba tokens, character bigrams


class StoreConnection(sqlite3.Connection):
    """A store being written: the connection, and each lexical view's terms collected so far."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lexicon = {view: PostingsBuilder() for view in VIEWS}
        self.documents: list[Document] = []           # written by finish_store, without the passages
        self.path: Path | None = None


@dataclass(frozen=True, slots=True)
class StoredPassage:
    """A passage as read back, with its document title."""

    rowid: int
    passage: Passage
    tokens: tuple[str, ...] = ()    # not stored since format 2: Analyzer.tokens(passage.clean)


# A store is written once, into a generation folder that a failed build deletes, and switched in
# only after finish_store has fsynced it: no rollback journal or fsync per commit is needed while
# it is written, and a large page cache keeps the passages' B-tree (random rowids) off the disk.
_BUILD_PRAGMAS = "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;"


def create_store(path: Path, meta: dict[str, str]) -> StoreConnection:
    conn = sqlite3.connect(path, factory=StoreConnection)
    conn.path = path
    conn.executescript(_BUILD_PRAGMAS)
    conn.executescript(_SCHEMA)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
    return conn


def insert_document(conn: StoreConnection, doc: Document) -> None:
    conn.documents.append(doc)


def _write_documents(conn: StoreConnection) -> None:
    """The documents inserted, each with only its text outside its passages where the passages
    are its slices in order (as the chunker cuts them), else its whole text."""
    for doc in conn.documents:
        rows = conn.execute('SELECT start, "end", text FROM passages WHERE source = ? ORDER BY start',
                            (doc.source,)).fetchall()
        rest = _outside_passages(doc.text, rows)
        conn.execute(f"INSERT INTO documents ({_DOCUMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (doc.source, doc.title, doc.sha256, doc.encoding, len(doc.text),
                      doc.text if rest is None else rest, doc.kind, json.dumps([list(p) for p in doc.pages]),
                      int(rest is not None)))
    conn.documents.clear()
    conn.commit()


def _outside_passages(text: str, passages: list[tuple[int, int, str]]) -> str | None:
    """``text`` without the (start, end, text) passages, or None where they overlap or differ."""
    parts, pos = [], 0
    for start, end, ptext in passages:
        if start < pos or text[start:end] != ptext:
            return None
        parts.append(text[pos:start])
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def insert_passages(conn: StoreConnection, passages: Sequence[Passage], tokens: Sequence[list[str]],
                    grams: Sequence[list[str]]) -> None:
    conn.executemany(
        f"INSERT INTO passages ({_PASSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(p.rowid, p.source, p.paragraph, json.dumps(list(p.section), ensure_ascii=False),
          p.start, p.end, p.text, None if p.clean == p.text else p.clean, json.dumps([list(s) for s in p.spans]),
          json.dumps([list(pg) for pg in p.pages]))
         for p in sorted(passages, key=attrgetter("rowid"))])      # B-tree pages filled in order
    rowids = [p.rowid for p in passages]
    conn.lexicon["words"].add(rowids, tokens)
    conn.lexicon["grams"].add(rowids, grams)


def copy_documents(conn: StoreConnection, old_store: Path, sources: Iterable[str]) -> None:
    """Carry unchanged documents and their passages over from the previous build, and their
    terms from its posting arrays (no tokenising again)."""
    conn.execute("ATTACH DATABASE ? AS old", (f"file:{old_store}?mode=ro",))
    try:
        conn.execute("CREATE TEMP TABLE keep (source TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO keep VALUES (?)", [(s,) for s in sources])
        for table, columns in (("documents", _DOCUMENT_COLUMNS), ("passages", _PASSAGE_COLUMNS)):
            conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} "
                         f"FROM old.{table} WHERE source IN (SELECT source FROM keep)")
        kept = np.array([r for r, in conn.execute("SELECT id FROM old.passages WHERE source IN "
                                                  "(SELECT source FROM keep)")], dtype=np.int64)
        for view in VIEWS:
            conn.lexicon[view].add_postings(*postings.read_view(conn, view, kept, schema="old"))
        conn.commit()
        conn.execute("DROP TABLE keep")
    finally:
        conn.execute("DETACH DATABASE old")


_analyzer = None


def _grams_analyzer():
    """An Analyzer without a user dictionary: bigrams do not depend on one."""
    global _analyzer
    if _analyzer is None:
        from .tokens import Analyzer

        _analyzer = Analyzer()
    return _analyzer


def finish_store(conn: StoreConnection, checkpoint=lambda name: None) -> None:
    """Write the posting arrays (indexer/postings.py), compact, and close: the file is complete
    and never written again. ``checkpoint(name)`` is called between steps (the builder's
    crash-injection points)."""
    _write_documents(conn)
    checkpoint("documents written")
    postings.write(conn, conn.lexicon)
    checkpoint("postings built")
    conn.execute("VACUUM")
    checkpoint("store compacted")
    conn.close()
    if conn.path is not None:
        fsync_file(conn.path)


_PHRASE = re.compile(r'"((?:[^"]|"")*)"')


def _phrases(match: str) -> list[str]:
    """The phrases of a MATCH expression built by tokens.fts_match_expression, in order."""
    return [m.group(1).replace('""', '"') for m in _PHRASE.finditer(match or "")]


def _row_to_passage(row: sqlite3.Row, titles: dict[str, str]) -> StoredPassage:
    passage = Passage(
        source=row["source"], title=titles.get(row["source"], row["source"]),
        section=tuple(json.loads(row["section"])), paragraph=row["paragraph"],
        start=row["start"], end=row["end"], text=row["text"],
        clean=row["text"] if row["clean"] is None else row["clean"],
        spans=tuple(tuple(s) for s in json.loads(row["spans"])),
        pages=tuple(tuple(pg) for pg in json.loads(row["pages"])))
    return StoredPassage(row["id"], passage)


class StoreReader:
    """Read-only access from any thread. Every connection is opened here, up front: an open SQLite
    file survives the removal of its folder (a build's clean-up), one opened later would not."""

    POOL_SIZE = 8        # threads beyond this many share connections (safe: SQLite is serialized)

    def __init__(self, path: Path, analyzer=None) -> None:
        self.path = path
        self.analyzer = analyzer    # the index's (its user dictionary): for phrases of jieba tokens
        self._local = threading.local()
        self._postings: dict[str, postings.Postings | None] = {}
        self._postings_lock = threading.Lock()
        self._pool = [self._connect() for _ in range(self.POOL_SIZE)]
        self._handed_out = itertools.count()
        conn = self._conn()
        try:
            self.meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            self.titles = dict(conn.execute("SELECT source, title FROM documents").fetchall())
            self.passage_count = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
            self._columns = _PASSAGE_COLUMNS
            conn.execute(f"SELECT {self._columns} FROM passages LIMIT 0")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise IndexCorrupt(f"{path} is not a readable wenda store ({exc}); {repair_hint_from_disk(Path(path).parent.parent)}") from exc

    def _connect(self) -> sqlite3.Connection:
        # immutable: a generation's file never changes once written, so no locking is needed
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        except sqlite3.OperationalError as exc:
            raise IndexCorrupt(f"{self.path} cannot be opened ({exc}); run `wenda index` to rebuild it") from exc
        # Reads through a memory map (SQLite stops at 2 GB unless built otherwise): a question at
        # 10^6 passages seeks the posting table for ~80 bigrams, each seek a few pages; with a
        # read() per page its row fetches took ~1.4x as long (bench/scale_1e6.md). Safe: the file
        # never changes once written.
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        conn.row_factory = sqlite3.Row
        return conn

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection from the pool (the pool's connections in turn, one per thread)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._pool[next(self._handed_out) % len(self._pool)]
            self._local.conn = conn
        return conn

    def passages_by_rowid(self, rowids: Sequence[int]) -> dict[int, StoredPassage]:
        if not rowids:
            return {}
        found: dict[int, StoredPassage] = {}
        conn = self._conn()
        ids = list(dict.fromkeys(int(r) for r in rowids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = conn.execute(f"SELECT {self._columns} FROM passages WHERE id IN "
                                f"({','.join('?' * len(chunk))})", chunk).fetchall()
            for row in rows:
                found[row["id"]] = _row_to_passage(row, self.titles)
        return found

    def passage_by_id(self, passage_id: str) -> StoredPassage | None:
        row = self._conn().execute(f"SELECT {self._columns} FROM passages WHERE id = ?",
                                   (passage_rowid(passage_id),)).fetchone()
        if row is None or passage_key(row["source"], row["paragraph"]) != passage_id:
            return None
        return _row_to_passage(row, self.titles)

    def passages_of(self, source: str, first: int = 1, last: int | None = None) -> list[StoredPassage]:
        rows = self._conn().execute(
            f"SELECT {self._columns} FROM passages WHERE source = ? AND paragraph >= ? AND paragraph <= ? "
            "ORDER BY paragraph", (source, first, last if last is not None else 2**62)).fetchall()
        return [_row_to_passage(r, self.titles) for r in rows]

    def lexical(self, match: str, limit: int, source_glob: str | None = None,
                view: str = "words") -> list[tuple[int, float]]:
        """(rowid, bm25 score, higher is better) for an FTS5 MATCH expression of quoted phrases
        joined by OR (tokens.fts_match_expression) over one lexical view: "words" (jieba tokens)
        or "grams" (character bigrams). FTS5's ``ORDER BY rank LIMIT``, from the posting arrays."""
        post = self.postings(view)
        scores = post.scores(_phrases(match))
        allowed = np.array(self.rowids_matching(source_glob), dtype=np.int64) if source_glob else None
        ids, top = post.top(scores, limit, allowed)
        return [(int(r), float(x)) for r, x in zip(ids, top)]

    def postings(self, view: str) -> postings.Postings | None:
        """The posting arrays of one lexical view."""
        with self._postings_lock:
            if view not in self._postings:
                self._postings[view] = postings.Postings.open(self._conn, view, self.view_texts)
            return self._postings[view]

    def lexical_among(self, match: str, rowids: Sequence[int], view: str = "words") -> dict[int, float]:
        """BM25 scores of the given passages (those the match finds at all)."""
        post = self.postings(view)
        scores = post.scores(_phrases(match))
        ids = np.array([int(r) for r in rowids], dtype=np.int64)
        ids = ids[np.isin(ids, post.rowids)]
        values = scores[post.numbers(ids)]
        return {int(r): float(x) for r, x in zip(ids, values) if x > 0}

    def holds_phrase(self, phrase: str, view: str = "grams", outside: str | None = None) -> bool:
        """Whether a passage (not of the document ``outside``) holds the FTS5 phrase ``phrase``
        (its tokens one after the other) in the given view."""
        post = self.postings(view)
        tokens = lexicon.tokenizer().split([phrase])[0]
        among = None
        if outside is not None:
            inside = post.numbers(np.array([r for r, in self._conn().execute(
                "SELECT id FROM passages WHERE source = ?", (outside,))], dtype=np.int64))
            among = np.setdiff1d(np.arange(post.rows), inside)
        docs, _ = post.phrase(tokens, among, first_only=True)
        return len(docs) > 0

    def view_texts(self, view: str, rowids: Sequence[int]) -> list[str]:
        """The text a lexical view indexed for each passage: its jieba tokens or its bigrams."""
        found: dict[int, str] = {}
        for i in range(0, len(rowids), 500):
            chunk = [int(r) for r in rowids[i:i + 500]]
            found.update(self._conn().execute(f"SELECT id, coalesce(clean, text) FROM passages WHERE id IN "
                                              f"({','.join('?' * len(chunk))})", chunk).fetchall())
        analyzer = self.analyzer or _grams_analyzer()
        terms = analyzer.tokens if view == "words" else analyzer.grams
        return [" ".join(terms(found[int(r)])) for r in rowids]

    def rowids_matching(self, source_glob: str) -> list[int]:
        return [r[0] for r in self._conn().execute("SELECT id FROM passages WHERE source GLOB ?", (source_glob,))]

    def documents(self) -> list[dict]:
        rows = self._conn().execute(
            "SELECT d.source, d.title, d.chars, d.sha256, d.kind, count(p.id) AS passages FROM documents d "
            "LEFT JOIN passages p ON p.source = d.source GROUP BY d.source ORDER BY d.source").fetchall()
        return [dict(r) for r in rows]

    def document_pages(self, source: str) -> list[tuple[int, int, int]]:
        """(page, start, end) of each page of a PDF document in its text; [] for other documents."""
        row = self._conn().execute("SELECT pages FROM documents WHERE source = ?", (source,)).fetchone()
        return [tuple(p) for p in json.loads(row[0])] if row else []

    def document_text(self, source: str) -> str | None:
        conn = self._conn()
        row = conn.execute("SELECT text, outside FROM documents WHERE source = ?", (source,)).fetchone()
        if not row or not row[1]:
            return row[0] if row else None
        rest, parts, pos, taken = row[0], [], 0, 0
        for start, end, text in conn.execute('SELECT start, "end", text FROM passages WHERE source = ? '
                                             "ORDER BY start", (source,)):
            parts += [rest[taken:taken + start - pos], text]
            taken += start - pos
            pos = end
        parts.append(rest[taken:])
        return "".join(parts)

    def all_rowids(self) -> list[int]:
        return [r[0] for r in self._conn().execute("SELECT id FROM passages ORDER BY source, paragraph")]

    def close(self) -> None:
        for conn in self._pool:
            conn.close()
