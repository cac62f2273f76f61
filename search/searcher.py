"""Hybrid retrieval: dense (FAISS) + lexical (FTS5 BM25 over jieba tokens and over character
bigrams), fused into one ranking (search/fusion.py). The candidates come from a backend
(search/backend.py): the local index folder or Milvus.

    from wenda.search import Searcher
    searcher = Searcher.open("index")
    for hit in searcher.search("徐汇区有多少家人工智能企业", k=5).hits:
        print(hit.passage.source, hit.passage.start, hit.passage.end, hit.passage.text)

``search()`` is ``search_batch()`` of one query: there is one code path.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from wenda.indexer.corpus import strip_surrogates
from wenda.indexer.errors import BadInput, IndexMismatch, InputTooLarge, NotFound, WendaError
from wenda.indexer.manifest import build_identity, current_generation
from wenda.indexer.store import StoredPassage
from wenda.indexer.tokens import mark_terms

from . import spelling
from .answerer import Answerer
from .fusion import FusionParams, fuse
from .backend import SearchBackend
from .llm import LLMConfig
from .open_index import LoadedIndex
from .question import Question, analyse_over
from .rank_model import RankModel, bundled_ranker
from .ranking import DEPTH as RANK_DEPTH, rank_features
from .records import Answer, Hit, Scores, SearchResult

log = logging.getLogger("wenda.search")

DEFAULT_MAX_QUERY_CHARS = 2000
DEFAULT_MAX_K = 50
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[\w\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]{2}")
_OVERLAP_MAX = 8            # queries of a batch whose lexical scores are computed while they are embedded
_EMBEDDING_POOL: ThreadPoolExecutor | None = None
_EMBEDDING_POOL_LOCK = threading.Lock()


def _embedding_pool() -> ThreadPoolExecutor:
    """Worker threads for query embeddings, shared by the process's searchers (a server's
    concurrent requests embed side by side, as they did in their own threads)."""
    global _EMBEDDING_POOL
    with _EMBEDDING_POOL_LOCK:
        if _EMBEDDING_POOL is None:
            _EMBEDDING_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wenda-embed")
        return _EMBEDDING_POOL


def clean_query(query: object, max_chars: int = DEFAULT_MAX_QUERY_CHARS) -> str:
    """The query as searched: control characters and lone surrogates removed, whitespace
    collapsed. Raises BadInput/InputTooLarge with a message for the user."""
    if not isinstance(query, str):
        raise BadInput("the query must be text")
    if len(query) > max_chars * 4:      # don't even clean something absurdly long
        raise InputTooLarge(f"the query is {len(query)} characters long; the limit is {max_chars}")
    text = _SPACES.sub(" ", _CONTROL.sub(" ", strip_surrogates(query))).strip()
    if not text:
        raise BadInput("the query is empty")
    if len(text) > max_chars:
        raise InputTooLarge(f"the query is {len(text)} characters long; the limit is {max_chars}")
    if not _WORD.search(text):
        raise BadInput("the query has no words to search for (only punctuation or symbols)")
    return text


def check_k(k: object, max_k: int = DEFAULT_MAX_K) -> int:
    """k must be a positive whole number; values above max_k are clamped to it."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise BadInput(f"k must be a whole number, not {k!r}")
    if k < 1:
        raise BadInput(f"k must be at least 1 (got {k})")
    return int(min(k, max_k))


@dataclass
class RankCandidates:
    """The fused top of one query's pool, as the learned ranker reads it."""

    chosen: np.ndarray                  # indexes into the pool, in fused order
    passages: list[StoredPassage]       # the passage of each
    features: np.ndarray                # one row of search.ranking.RANK_FEATURES each


@dataclass
class _Pool:
    """One query's candidates with every retriever's score."""

    rowids: np.ndarray
    signals: dict[str, np.ndarray]      # "dense", "words", "grams" -> one score per candidate


class Searcher:
    def __init__(self, index: SearchBackend, embedder, fusion: FusionParams = FusionParams(),
                 max_query_chars: int = DEFAULT_MAX_QUERY_CHARS, max_k: int = DEFAULT_MAX_K,
                 full_check: bool = False, ranker: "RankModel | str | None" = "bundled") -> None:
        self._index = index
        self.embedder = embedder
        self.fusion = fusion
        self.max_query_chars = max_query_chars
        self.max_k = max_k
        self._full_check = full_check
        self._reload_lock = threading.Lock()
        self._failed_build: tuple | None = None     # build_identity of a build that failed to load
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._answerer_cache: Answerer | None = None
        self._half_queries = _half_queries(index, embedder)
        self.ranker = bundled_ranker() if ranker == "bundled" else ranker

    # -- opening
    @classmethod
    def open(cls, index_dir: str | Path, model: str | None = None, cache_dir: Path | None = None,
             threads: int | None = None, embedder=None, fusion: FusionParams | None = None,
             full_check: bool = False, query_engine: str = "auto", **limits) -> "Searcher":
        """Load the index in ``index_dir`` and its model. Its files are checked against the manifest
        by size and a quick fingerprint (``full_check``: every byte's checksum; `verify_files`).
        ``query_engine``: what embeds queries (indexer/embed.py QUERY_ENGINES)."""
        index = LoadedIndex.open(Path(index_dir), full_check=full_check)
        return cls.over(index, model, cache_dir, threads, embedder, fusion, full_check, query_engine, **limits)

    @classmethod
    def over(cls, index: SearchBackend, model: str | None = None, cache_dir: Path | None = None,
             threads: int | None = None, embedder=None, fusion: FusionParams | None = None,
             full_check: bool = False, query_engine: str = "auto", **limits) -> "Searcher":
        """A Searcher over an opened backend (a LoadedIndex, a MilvusIndex) and its model."""
        if embedder is None:
            embedder = load_embedder_for(index.manifest, model, cache_dir, threads, query_engine)
        else:
            check_model(index.manifest, embedder)
        return cls(index, embedder, fusion or FusionParams(), full_check=full_check, **limits)

    @property
    def index(self) -> SearchBackend:
        return self._index

    def verify_full(self) -> SearchBackend:
        """Read every byte of the served build against the manifest's checksums (IndexCorrupt if
        one differs); the index it checked."""
        index = self._index
        index.verify_full()
        return index

    @property
    def half_queries(self) -> bool:
        """Queries are embedded with bfloat16 matrix products (large indexes, see _half_queries)."""
        return self._half_queries

    def reload_if_changed(self) -> bool:
        """Switch to a newer build of the same folder, if one was switched in. In-flight calls
        finish on the index they started with. Returns True when it switched. A build that cannot
        be served (damaged, another model) is logged once and not tried again until it changes:
        each try re-hashes every file."""
        if not isinstance(self._index, LoadedIndex):
            return self._switch_to(self._index.refreshed())
        try:
            live = current_generation(self._index.index_dir)
        except WendaError:      # a damaged pointer: keep serving the loaded index
            return False
        if live == self._index.generation or build_identity(live) == self._failed_build:
            return False
        with self._reload_lock:
            attempt = build_identity(live)
            if live == self._index.generation or attempt == self._failed_build:
                return False
            fresh = None
            try:
                fresh = LoadedIndex.open(self._index.index_dir, full_check=self._full_check, generation=live)
                check_model(fresh.manifest, self.embedder)
            except WendaError as exc:
                if fresh is not None:
                    fresh.close()
                self._failed_build = attempt
                log.warning("cannot switch to index build %s, still serving %s (not retried until it changes): %s",
                            live.name, self._index.generation.name, exc)
                return False
            self._index = fresh
            self._half_queries = _half_queries(fresh, self.embedder)
            with self._cache_lock:
                self._query_cache.clear()
            log.info("switched to index build %s", fresh.generation.name)
            return True

    def _switch_to(self, fresh: SearchBackend | None) -> bool:
        """Serve ``fresh`` from now on (a backend without build folders: Milvus)."""
        if fresh is None:
            return False
        with self._reload_lock:
            check_model(fresh.manifest, self.embedder)
            self._index = fresh
            with self._cache_lock:
                self._query_cache.clear()
        log.info("switched to %s", fresh.generation.name)
        return True

    # -- searching
    def search(self, query: str, k: int = 5, doc: str | None = None) -> SearchResult:
        return self.search_batch([query], k=k, doc=doc)[0]

    def search_batch(self, queries: Sequence[str], k: int = 5, doc: str | None = None) -> list[SearchResult]:
        started = time.perf_counter()
        index = self._index               # one index for the whole batch, even across a reload
        cleaned = [clean_query(q, self.max_query_chars) for q in queries]
        k = check_k(k, self.max_k)
        allowed = index.allowed(doc)
        depth = max(self.fusion.candidates, k * 3)
        # The query embedding and the vector search (ONNX Runtime or torch, then FAISS, both outside
        # the GIL) run beside the typo check, the lexical views and the question analysis, which
        # need no vector; where a typo is fixed (rarely), the corrected text is searched again.
        # Large batches keep the order embed-then-score, so that no more than a few queries' score
        # arrays are held at once.
        overlap = len(cleaned) <= _OVERLAP_MAX
        if overlap and not index.half_vectors:      # a small exact index: nothing to overlap once embedded
            with self._cache_lock:
                overlap = not all(q in self._query_cache for q in cleaned)
        dense = _embedding_pool().submit(self._dense, index, cleaned, depth, allowed) if overlap else None
        corrected = [corrected_query(index, q) for q in cleaned]
        searched = [c or q for q, c in zip(cleaned, corrected)]
        if overlap and searched != cleaned:
            dense = _embedding_pool().submit(self._dense, index, searched, depth, allowed)
        prepared = [self._prepare(index, q, depth, doc, allowed) for q in searched] if overlap else None
        qvecs, (dense_scores, dense_ids) = dense.result() if dense is not None else self._dense(
            index, searched, depth, allowed)
        results = []
        for i, query in enumerate(searched):
            terms, lexical, question = prepared[i] if prepared else self._prepare(index, query, depth, doc, allowed)
            pool = self._pool(index, qvecs[i], lexical, dense_scores[i], dense_ids[i])
            hits = self._rank(index, pool, query, terms, k, question)
            results.append(SearchResult(cleaned[i], hits, 0.0, tuple(terms), corrected[i]))
        took = (time.perf_counter() - started) * 1000 / max(len(results), 1)
        return [replace(r, took_ms=took) for r in results]

    def _dense(self, index: SearchBackend, queries: list[str], depth: int, allowed: np.ndarray | None):
        """The queries' vectors and the vector index's (scores, ids) for them. After an embedding
        (~9 ms) the lexical views beside it are mostly done, so the vector search may spread over
        the cores; with every vector cached it runs while they do, on one."""
        with self._cache_lock:
            embeds = any(q not in self._query_cache for q in queries)
        qvecs = self.embed_queries(queries)
        return qvecs, index.dense(qvecs, depth, allowed, spread=embeds)

    def _prepare(self, index: SearchBackend, query: str, depth: int, doc: str | None,
                 allowed: object | None) -> tuple[list[str], dict, Question | None]:
        """What a query's ranking needs besides its vector: its terms, the lexical views' scores
        and (for the learned ranker) its analysis."""
        question = analyse_over(query, index) if self.ranker is not None or _LATIN.search(query) else None
        if question is not None and question.language != "zh":
            # English words have no match in a Chinese text: their Chinese wording (search/glosses.py)
            # joins the lexical query.
            glossed = " ".join(t.text for t in question.terms if t.source == "gloss")
            query = f"{query} {glossed}" if glossed else query
        terms = index.analyzer.tokens(query)
        views = {"words": terms, "grams": index.analyzer.grams(query)}
        lexical = {view: index.lexical(view, query, view_terms, depth, doc, allowed)
                   for view, view_terms in views.items()}
        return terms, lexical, question

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        """Query vectors, from a small LRU cache where possible (repeated queries are common)."""
        out: list[np.ndarray | None] = []
        missing: list[str] = []
        with self._cache_lock:
            for q in queries:
                vec = self._query_cache.get(q)
                if vec is not None:
                    self._query_cache.move_to_end(q)
                else:
                    missing.append(q)
                out.append(vec)
        if missing:
            unique = list(dict.fromkeys(missing))
            # Copies: a row view would keep its whole batch alive in the cache.
            vecs = self.embedder.encode_queries(unique, half=self._half_queries)
            fresh = {q: vec.copy() for q, vec in zip(unique, vecs)}
            with self._cache_lock:
                for q, vec in fresh.items():
                    self._query_cache[q] = vec
                    if len(self._query_cache) > 2048:
                        self._query_cache.popitem(last=False)
            out = [fresh[q] if vec is None else vec for q, vec in zip(queries, out)]
        return np.vstack(out).astype(np.float32)

    def _pool(self, index: SearchBackend, qvec: np.ndarray, lexical: dict, dense_scores: np.ndarray,
              dense_ids: np.ndarray) -> _Pool:
        """Union of the top ``depth`` of each retriever, every candidate scored by all of them."""
        found = dense_ids >= 0
        dense_ids, dense_scores = dense_ids[found], dense_scores[found]
        rowids = np.unique(np.concatenate([dense_ids, *(v.top_ids for v in lexical.values())]))
        dense = np.zeros(len(rowids), dtype=np.float64)
        in_dense = np.isin(rowids, dense_ids)
        order = np.argsort(dense_ids, kind="stable")
        dense[in_dense] = dense_scores[order][np.searchsorted(dense_ids[order], rowids[in_dense])]
        if not in_dense.all():       # lexical-only candidates: cosine of their stored vectors
            # A float32 dot product can depend on the row's place in the batch: the rows go in the
            # order earlier versions used (the candidate set's), so the scores stay bit-identical.
            # (The set is built from dicts, as before, because that sizes its table and so its order.)
            known = set(dict.fromkeys(dense_ids.tolist()))
            tops = [dict.fromkeys(v.top_ids.tolist()) for v in lexical.values()]
            only = [r for r in known.union(*tops) if r not in known]
            dense[np.searchsorted(rowids, only)] = index.vectors_of(only) @ qvec
        signals = {"dense": dense}
        for view, scores in lexical.items():
            signals[view] = scores.among(rowids)
        return _Pool(rowids, signals)

    def rank_candidates(self, query: str, doc: str | None = None) -> RankCandidates:
        """The fused top DEPTH of one query with their re-ranking features (search/ranking.py), as
        serving computes them: what bench/train_ranking.py learns from."""
        index = self._index
        cleaned = clean_query(query, self.max_query_chars)
        cleaned = corrected_query(index, cleaned) or cleaned
        allowed = index.allowed(doc)
        qvec = self.embed_queries([cleaned])
        depth = max(self.fusion.candidates, RANK_DEPTH)
        dense_scores, dense_ids = index.dense(qvec, depth, allowed)
        terms, lexical, question = self._prepare(index, cleaned, depth, doc, allowed)
        pool = self._pool(index, qvec[0], lexical, dense_scores[0], dense_ids[0])
        fused = fuse(pool.signals, self.fusion)
        order = np.lexsort((pool.rowids, -fused))
        return self._rank_candidates(index, pool, cleaned, fused, order, question)

    def _rank_candidates(self, index: SearchBackend, pool: _Pool, query: str, fused: np.ndarray,
                         order: np.ndarray, question: Question | None = None) -> RankCandidates:
        chosen = order[:RANK_DEPTH]
        rowids = [int(pool.rowids[j]) for j in chosen]
        stored = index.store.passages_by_rowid(rowids)
        kept = [(j, r) for j, r in zip(chosen, rowids) if r in stored]
        chosen = np.array([j for j, _ in kept], dtype=np.int64)
        passages = [stored[r] for _, r in kept]
        question = question or analyse_over(query, index)
        features = rank_features(question, index.analyzer, [sp.passage for sp in passages], pool.signals, fused, chosen)
        return RankCandidates(chosen, passages, features)

    def _rank(self, index: SearchBackend, pool: _Pool, query: str, terms: list[str], k: int,
              question: Question | None = None) -> list[Hit]:
        if len(pool.rowids) == 0:
            return []
        fused = fuse(pool.signals, self.fusion)
        order = np.lexsort((pool.rowids, -fused))        # ties broken by id: stable results
        stored: dict[int, StoredPassage] = {}
        ranked: dict[int, float] = {}
        ranker = self.ranker
        if ranker is not None:
            # The learned ranker re-orders the fused top RANK_DEPTH (what lies below keeps its order).
            cands = self._rank_candidates(index, pool, query, fused, order, question)
            scores = ranker.scores(cands.features)
            top = np.lexsort((np.arange(len(scores)), -scores))
            ranked = {int(j): float(scores[t]) for t, j in enumerate(cands.chosen)}
            order = np.concatenate([cands.chosen[top], order[RANK_DEPTH:]])
            stored = {sp.passage.rowid: sp for sp in cands.passages}
        # Fetch a few more than k: near-duplicates are dropped below.
        wanted = [int(pool.rowids[j]) for j in order[: k * 3]]
        missing = [r for r in wanted if r not in stored]
        if missing:
            stored.update(index.store.passages_by_rowid(missing))
        position = {int(r): j for j, r in enumerate(pool.rowids)}
        hits: list[Hit] = []
        kept: list[StoredPassage] = []
        for rowid in wanted:
            sp = stored.get(rowid)
            if sp is None or any(_overlaps(sp, other) for other in kept):
                continue
            kept.append(sp)
            j = position[rowid]
            scores = Scores(*(float(pool.signals[name][j]) for name in ("dense", "words", "grams")), float(fused[j]),
                            ranked.get(j))
            highlight = mark_terms(sp.passage.clean, terms, index.analyzer)
            hits.append(Hit(len(hits) + 1, sp.passage, scores, highlight))
            if len(hits) == k:
                break
        return hits

    # -- answering
    def ask(self, question: str, k: int = 5, doc: str | None = None, llm: LLMConfig | None = None,
            on_text: Callable[[str], None] | None = None) -> Answer:
        return self.ask_batch([question], k=k, doc=doc, llm=llm, on_text=on_text)[0]

    def ask_batch(self, questions: Sequence[str], k: int = 5, doc: str | None = None,
                  llm: LLMConfig | None = None, on_text: Callable[[str], None] | None = None) -> list[Answer]:
        """Answers with citations; ``found`` is False (and the answer says so) when the corpus
        does not hold one. With ``llm``, the answer is written by that endpoint and checked,
        falling back to the extractive answer when it fails."""
        started = time.perf_counter()
        index = self._index
        answerer = self._answerer(index)
        k = check_k(k, self.max_k)
        results = self.search_batch(questions, k=max(k, answerer.passages), doc=doc)
        return [answerer.answer(r, started, k, llm, on_text) for r in results]

    def prepare_answers(self) -> None:
        """Load what a first ask needs beyond a search (the answer check's cross-encoder, exported
        into the cache at its first use), so that a server's first question does not wait for it."""
        self._answerer(self._index).second_look

    def _answerer(self, index: SearchBackend) -> Answerer:
        cached = self._answerer_cache      # one read: a reload may replace it meanwhile
        if cached is None or cached.index is not index:
            cached = self._answerer_cache = Answerer(index, self.embedder)
        return cached

    # -- browsing
    def passage(self, passage_id: str, context: int = 0) -> list[StoredPassage]:
        """The passage and up to ``context`` neighbours on each side, in document order."""
        if isinstance(context, bool) or not isinstance(context, int) or context < 0:
            raise BadInput("context must be a whole number >= 0")
        context = min(context, 10)
        store = self._index.store
        sp = store.passage_by_id(passage_id)
        if sp is None:
            raise NotFound(f"no passage {passage_id!r} in this index")
        p = sp.passage
        return store.passages_of(p.source, p.paragraph - context, p.paragraph + context)

    def documents(self) -> list[dict]:
        return self._index.store.documents()

    def document(self, source: str) -> tuple[dict, str, list[StoredPassage]]:
        store = self._index.store
        text = store.document_text(source)
        if text is None:
            raise NotFound(f"no document {source!r} in this index")
        meta = next(d for d in store.documents() if d["source"] == source)
        meta["pages"] = store.document_pages(source)
        return meta, text, store.passages_of(source)


def corrected_query(index: SearchBackend, query: str) -> str | None:
    """``query`` with its homophone typos replaced (search/spelling.py), or None."""
    # the whole-text folding the index used (OpenCC converts 計畫 to 计划 as a phrase, per character
    # to 计画), and the per-character one only to find where each character came from
    folded = index.analyzer.fold(query)
    fixed = spelling.correct(folded, index.analyzer, index.known_grams, index.term_in_corpus)
    if fixed is None:
        return None
    by_char, origin = index.analyzer.fold_with_map(query)
    if len(by_char) != len(folded):
        return None
    chars = list(query)
    for a, b, at in zip(folded, fixed, origin):
        if a != b:
            chars[at] = b
    return "".join(chars)


def _half_queries(index: SearchBackend, embedder) -> bool:
    """Embed queries with bfloat16 matrix products when the index already trades exactness for
    speed (float16 vectors or HNSW, past 50,000 passages: indexer/vectors.py) and the queries go
    through torch. Small indexes stay float32 throughout, so their results are exactly what the
    model gives. Where ONNX Runtime embeds the queries they stay float32 on every index: on the
    2-core AMX Xeon a search at 10^5 passages took 21-22 ms p50 that way against 23-24 ms with
    torch's bfloat16 (bench/torch_threads.md), though torch embeds a query alone faster (6.5
    against 7.6 ms): it runs the encoder op by op from Python and waits for the GIL the lexical
    views hold meanwhile, where ONNX Runtime runs it in one call."""
    return index.half_vectors and bool(getattr(embedder, "half_available", False)) \
        and getattr(embedder, "query_engine", "torch") == "torch"


def _overlaps(a: StoredPassage, b: StoredPassage) -> bool:
    """Duplicates to collapse: overlapping spans of one file, or one text inside the other
    (articles often repeat a paragraph)."""
    pa, pb = a.passage, b.passage
    if pa.source == pb.source and pa.start < pb.end and pb.start < pa.end:
        return True
    short, long_ = sorted((pa.clean, pb.clean), key=len)
    return len(short) >= 20 and short in long_


def check_model(manifest: dict, embedder) -> None:
    built = manifest["model"]
    if embedder.fingerprint != built.get("fingerprint") or embedder.dim != built.get("dim"):
        raise IndexMismatch(
            f"the index was built with model {built['name']} (fingerprint {built.get('fingerprint')}), "
            f"but {embedder.name} (fingerprint {embedder.fingerprint}) is loaded; "
            f"re-index with `wenda index --rebuild{'' if embedder.name == built['name'] else ' --model ' + embedder.name}`")


def load_embedder_for(manifest: dict, model: str | None, cache_dir: Path | None, threads: int | None,
                      query_engine: str = "auto"):
    """The model the index was built with; asking for another one is refused."""
    from wenda.indexer.embed import DEFAULT_MODEL, Embedder

    built = manifest["model"]["name"]
    if model and _model_key(model, DEFAULT_MODEL) != _model_key(built, DEFAULT_MODEL):
        raise IndexMismatch(f"the index was built with model {built}, not {model}; "
                            f"re-index with `wenda index --rebuild --model {model}` or drop --model/WENDA_MODEL")
    if cache_dir is None:
        cache_dir = Path.home() / ".cache" / "wenda"
    embedder = Embedder.load(built, cache_dir, threads=threads, query_engine=query_engine)
    check_model(manifest, embedder)
    return embedder


def _model_key(name: str, default: str) -> str:
    name = name.rstrip("/")
    return default if name in (default, f"intfloat/{default}") else name
