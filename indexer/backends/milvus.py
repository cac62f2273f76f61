"""Milvus as the place passages, their lexical views and vectors are kept.

Three collections per wenda collection NAME (default ``wenda``):

- ``NAME``: one row per passage (id = the passage rowid of indexer/records.py, so a passage has
  the same number in both backends), its citation fields, the e5 vector, and two BM25 sparse
  fields Milvus computes itself: ``words_bm25`` (jieba analyzer over the folded passage text) and
  ``grams_bm25`` (the character bigrams of indexer/tokens.py, each written as one ASCII token so
  that every Milvus tokenizer keeps it whole).
- ``NAME_documents``: the document texts citations index into, in parts of at most PART_CHARS
  characters (a VARCHAR holds 65,535 bytes); part 0 also carries the document's facts.
- ``NAME_meta``: the manifest-level facts (model fingerprint, chunking, analyzer, corpus) and a
  revision number each build bumps, so serving processes notice a change.

Written to the subset milvus-lite 3.x and the Milvus server both accept (../docs/milvus.md): the
analyzer ``{"tokenizer": "jieba"}``, BM25 fields indexed as SPARSE_INVERTED_INDEX with metric
BM25, no ``drop_ratio_search``, ``load_collection`` after connecting, BM25 distances read by
magnitude (lite returns them negative). pymilvus is imported here only.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import BackendUnavailable, BadInput, WendaError
from ..records import Document, Passage
from ..store import StoredPassage

log = logging.getLogger("wenda.milvus")

INSTALL_HINT = "pip install 'wenda[milvus]'"
PART_CHARS = 16_000                 # 4 bytes a character at most: under a VARCHAR's 65,535 bytes
VARCHAR_BYTES = 65_535
QUERY_LIMIT = 16_384                # rows one query returns at most (offset + limit)
HNSW_PARAMS = {"M": 16, "efConstruction": 200}
_PASSAGE_FIELDS = ["id", "source", "title", "section", "paragraph", "start_char", "end_char", "text", "clean",
                   "spans", "pages"]
_DOC_FIELDS = ["source", "title", "sha256", "encoding", "kind", "chars", "passages", "pages"]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")


def pymilvus():
    try:
        import pymilvus as module
    except ImportError:
        raise WendaError(f"the Milvus backend needs pymilvus: {INSTALL_HINT}") from None
    return module


def check_collection_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise BadInput(f"a Milvus collection name is letters, digits and _, starting with a letter or _ "
                       f"(not {name!r})")
    return name


def gram_token(gram: str) -> str:
    """A bigram (or Latin/digit word) as one ASCII token: 'g' and 40 bits of its hash."""
    return "g" + hashlib.blake2b(gram.encode("utf-8"), digest_size=5).hexdigest()


def gram_text(grams: Iterable[str]) -> str:
    """The grams field: tokens separated by spaces, with a space at each end, so that a phrase of
    grams is the substring `` t1 t2 ``."""
    return " " + " ".join(gram_token(g) for g in grams) + " "


def _fit(text: str, limit: int = VARCHAR_BYTES) -> str:
    """``text`` cut to what a VARCHAR holds (only lexical fields of extreme passages are cut)."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def like_literal(text: str) -> str:
    """``text`` inside a Milvus ``like`` pattern, matching itself only."""
    escaped = text.replace("\\", "\\\\\\\\").replace("%", "\\\\%").replace("_", "\\\\_").replace('"', '\\"')
    return escaped


def glob_filter(glob: str, sources: Callable[[], list[str]]) -> str:
    """A Milvus filter for the sources matching a shell glob: ``like`` for * and ? alone, else
    the matching sources listed (``sources()`` gives all of them)."""
    if not any(ch in glob for ch in "[]\\"):
        parts = re.split(r"([*?])", glob)
        pattern = "".join("%" if p == "*" else "_" if p == "?" else like_literal(p) for p in parts)
        return f'source like "{pattern}"'
    import fnmatch

    matching = [s for s in sources() if fnmatch.fnmatchcase(s, glob)]
    return f"source in {json.dumps(matching, ensure_ascii=False)}"


@dataclass(frozen=True)
class Target:
    """Which Milvus and which collection: a lite data folder (``./milvus.db``) or a server URL."""

    uri: str
    collection: str = "wenda"
    token: str | None = None

    @property
    def documents(self) -> str:
        return f"{self.collection}_documents"

    @property
    def meta(self) -> str:
        return f"{self.collection}_meta"

    def describe(self) -> str:
        return f"milvus {self.uri} collection {self.collection}"


class MilvusStore:
    """One connection to Milvus and the operations wenda makes on its three collections. Every
    Milvus failure becomes a WendaError: BackendUnavailable when the server cannot be reached."""

    def __init__(self, target: Target, timeout_s: float = 10.0) -> None:
        self.target = target
        self.timeout_s = timeout_s
        module = pymilvus()
        # pymilvus logs each failed call with its traceback; wenda reports it in one line instead
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        self._exception = module.MilvusException
        try:
            kwargs = {"token": target.token} if target.token else {}
            self.client = module.MilvusClient(uri=target.uri, timeout=timeout_s, **kwargs)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises several kinds for an unreachable server
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: Exception) -> WendaError:
        detail = str(getattr(exc, "message", "") or exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if "lock" in detail.lower() and "data" in detail.lower():
            return BackendUnavailable(f"the milvus-lite data folder {self.target.uri} is in use by another process "
                                      f"({detail}); serve it with `milvus-lite server --data-dir {self.target.uri}` "
                                      "and connect with --milvus-uri http://127.0.0.1:PORT")
        return BackendUnavailable(f"Milvus at {self.target.uri} is unreachable or failed ({detail}); "
                                  "check that it is running and --milvus-uri / WENDA_MILVUS_URI")

    def call(self, method: str, *args, **kwargs):
        """A MilvusClient method, its failures as WendaErrors."""
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except self._exception as exc:
            raise self._unavailable(exc) from None
        except (OSError, RuntimeError) as exc:
            raise self._unavailable(exc) from None

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass

    # -- collections
    def exists(self) -> bool:
        """Whether wenda has written this collection; if so it is loaded (readable)."""
        if not self.call("has_collection", self.target.meta):
            return False
        self.load()
        return True

    def load(self) -> None:
        """A reopened collection comes back released in milvus-lite: load all three."""
        for name in (self.target.collection, self.target.documents, self.target.meta):
            if self.call("has_collection", name):
                self.call("load_collection", name)

    def drop(self) -> None:
        for name in (self.target.collection, self.target.documents, self.target.meta):
            if self.call("has_collection", name):
                self.call("drop_collection", name)

    def create(self, dim: int) -> None:
        """The three collections, each created only where missing (so a killed create resumes)."""
        m = pymilvus()
        DataType, t = m.DataType, self.target
        if not self.call("has_collection", t.collection):
            schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            for name, size in (("passage_id", 4096), ("source", 2048), ("title", 2048), ("section", 8192)):
                schema.add_field(name, DataType.VARCHAR, max_length=size)
            for name in ("paragraph", "start_char", "end_char"):
                schema.add_field(name, DataType.INT64)
            for name in ("text", "clean", "spans", "pages"):
                schema.add_field(name, DataType.VARCHAR, max_length=VARCHAR_BYTES)
            schema.add_field("words", DataType.VARCHAR, max_length=VARCHAR_BYTES, enable_analyzer=True,
                             analyzer_params={"tokenizer": "jieba"})
            schema.add_field("grams", DataType.VARCHAR, max_length=VARCHAR_BYTES, enable_analyzer=True,
                             analyzer_params={"tokenizer": "standard"})
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            schema.add_field("words_bm25", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_field("grams_bm25", DataType.SPARSE_FLOAT_VECTOR)
            for field in ("words", "grams"):
                schema.add_function(m.Function(name=f"{field}_bm25_fn", function_type=m.FunctionType.BM25,
                                               input_field_names=[field], output_field_names=[f"{field}_bm25"]))
            index = self.client.prepare_index_params()
            index.add_index("vector", index_type="HNSW", metric_type="COSINE", params=HNSW_PARAMS)
            index.add_index("words_bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
            index.add_index("grams_bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
            self.call("create_collection", t.collection, schema=schema, index_params=index,
                      consistency_level="Strong")
        for name, key, size in ((t.documents, "part_id", 4096), (t.meta, "key", 256)):
            if self.call("has_collection", name):
                continue
            schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field(key, DataType.VARCHAR, max_length=size, is_primary=True)
            if name == t.documents:
                for field, length in (("source", 2048), ("title", 2048), ("sha256", 128), ("encoding", 64),
                                      ("kind", 32)):
                    schema.add_field(field, DataType.VARCHAR, max_length=length)
                for field in ("part", "chars", "passages"):
                    schema.add_field(field, DataType.INT64)
                schema.add_field("pages", DataType.VARCHAR, max_length=VARCHAR_BYTES)
            schema.add_field("value" if name == t.meta else "text", DataType.VARCHAR, max_length=VARCHAR_BYTES)
            # Every Milvus collection needs a vector field; these two are looked up by key only.
            schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
            index = self.client.prepare_index_params()
            index.add_index("unused", index_type="FLAT", metric_type="L2")
            self.call("create_collection", name, schema=schema, index_params=index, consistency_level="Strong")
        self.load()

    def flush(self) -> None:
        """Seal what was written: milvus-lite rebuilds the index of unsealed rows at every search,
        and a server builds its indexes on sealed segments."""
        for name in (self.target.collection, self.target.documents, self.target.meta):
            self.call("flush", name)

    # -- the manifest
    def read_meta(self) -> dict | None:
        rows = self.call("query", self.target.meta, filter='key == "manifest"', output_fields=["value"])
        return json.loads(rows[0]["value"]) if rows else None

    def write_meta(self, meta: dict) -> None:
        self.call("upsert", self.target.meta, [{"key": "manifest", "value": json.dumps(meta, ensure_ascii=False),
                                                "unused": [0.0, 0.0]}])

    # -- writing
    def delete_source(self, source: str) -> None:
        self.call("delete", self.target.collection, filter=f"source == {_quote(source)}")

    def delete_document(self, source: str) -> None:
        self.call("delete", self.target.documents, filter=f"source == {_quote(source)}")

    def upsert_passages(self, passages: Sequence[Passage], words: Sequence[str], grams: Sequence[list[str]],
                        vectors: np.ndarray, batch: int = 256) -> None:
        rows = [{"id": p.rowid, "passage_id": p.passage_id, "source": p.source, "title": _fit(p.title, 2048),
                 "section": _fit(json.dumps(list(p.section), ensure_ascii=False), 8192), "paragraph": p.paragraph,
                 "start_char": p.start, "end_char": p.end, "text": p.text, "clean": p.clean,
                 "spans": json.dumps([list(s) for s in p.spans]), "pages": json.dumps([list(pg) for pg in p.pages]),
                 "words": _fit(w), "grams": _fit(gram_text(g)), "vector": v.tolist()}
                for p, w, g, v in zip(passages, words, grams, vectors)]
        for i in range(0, len(rows), batch):
            self.call("upsert", self.target.collection, rows[i:i + batch])

    def delete_sources(self, sources: Sequence[str]) -> None:
        """The passages of these documents (one call: a call per document made a copy of 10^4
        passages take minutes on milvus-lite)."""
        if sources:
            self.call("delete", self.target.collection, filter=f"source in [{', '.join(map(_quote, sources))}]")

    def upsert_documents(self, docs: Sequence[tuple[Document, int]], sha256: str | None = None,
                         drop_stale: bool = True) -> None:
        """Each document's text and facts (with its number of passages); ``sha256`` "" marks them
        unfinished (their passages are being written), so that a build killed meanwhile redoes them.
        ``drop_stale``: delete the parts a longer earlier version left (not needed when the same
        text was written just before)."""
        rows, stale = [], []
        for doc, passages in docs:
            parts = [doc.text[i:i + PART_CHARS] for i in range(0, len(doc.text), PART_CHARS)] or [""]
            rows += [{"part_id": f"{doc.source}#{n}", "source": doc.source, "part": n, "text": part,
                      "title": _fit(doc.title, 2048), "sha256": doc.sha256 if sha256 is None else sha256,
                      "encoding": doc.encoding, "kind": doc.kind, "chars": len(doc.text), "passages": passages,
                      "pages": json.dumps([list(p) for p in doc.pages]) if n == 0 else "[]", "unused": [0.0, 0.0]}
                     for n, part in enumerate(parts)]
            # parts beyond the new last one, left from a longer earlier version
            stale.append(f"(source == {_quote(doc.source)} and part >= {len(parts)})")
        if rows:
            self.call("upsert", self.target.documents, rows)
            if drop_stale:
                self.call("delete", self.target.documents, filter=" or ".join(stale))

    # -- reading
    def query_all(self, collection: str, filter: str, fields: list[str], batch: int = 1000) -> list[dict]:
        """Every matching row: one query up to Milvus's 16,384-row limit, an iterator beyond."""
        rows = self.call("query", collection, filter=filter, output_fields=fields, limit=QUERY_LIMIT)
        if len(rows) < QUERY_LIMIT:
            return list(rows)
        try:
            iterator = self.client.query_iterator(collection, batch_size=batch, filter=filter, output_fields=fields)
            rows: list[dict] = []
            while True:
                page = iterator.next()
                if not page:
                    break
                rows.extend(page)
            iterator.close()
            return rows
        except self._exception as exc:
            raise self._unavailable(exc) from None

    def documents(self) -> list[dict]:
        """Each document's facts, by source ("passages": its passage count)."""
        rows = self.query_all(self.target.documents, "part == 0", _DOC_FIELDS)
        return sorted(({k: r[k] for k in _DOC_FIELDS} for r in rows), key=lambda d: d["source"])

    def document_text(self, source: str) -> str | None:
        rows = self.call("query", self.target.documents, filter=f"source == {_quote(source)}",
                         output_fields=["part", "text"], limit=16384)
        return "".join(r["text"] for r in sorted(rows, key=lambda r: r["part"])) if rows else None

    def passages(self, filter: str, limit: int = 16384) -> list[StoredPassage]:
        rows = self.call("query", self.target.collection, filter=filter, output_fields=_PASSAGE_FIELDS, limit=limit)
        return [_row_to_passage(r) for r in rows]

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        rows = self.call("query", self.target.collection, filter=f"id in {[int(i) for i in ids]}",
                         output_fields=["vector"])
        return {int(r["id"]): np.asarray(r["vector"], dtype=np.float32) for r in rows}

    def search(self, field: str, data: list, limit: int, filter: str = "", params: dict | None = None
               ) -> list[list[tuple[int, float]]]:
        """(id, score) of the best ``limit`` rows per query, best first. BM25 scores are read by
        magnitude: milvus-lite returns them negative, the server positive."""
        metric = "COSINE" if field == "vector" else "BM25"
        results = self.call("search", self.target.collection, data=data, anns_field=field, limit=limit,
                            filter=filter, output_fields=["id"],
                            search_params={"metric_type": metric, "params": params or {}})
        sign = (lambda d: d) if field == "vector" else abs
        return [[(int(h["id"]), float(sign(h["distance"]))) for h in hits] for hits in results]

    def count(self) -> int:
        rows = self.call("query", self.target.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0


def _row_to_passage(row: dict) -> StoredPassage:
    passage = Passage(source=row["source"], title=row["title"], section=tuple(json.loads(row["section"])),
                      paragraph=int(row["paragraph"]), start=int(row["start_char"]), end=int(row["end_char"]),
                      text=row["text"], clean=row["clean"], spans=tuple(tuple(s) for s in json.loads(row["spans"])),
                      pages=tuple(tuple(pg) for pg in json.loads(row["pages"])))
    return StoredPassage(int(row["id"]), passage, ())
