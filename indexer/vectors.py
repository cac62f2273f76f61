"""The vector index: FAISS, inner product over L2-normalised embeddings (= cosine), with the
SQLite passage rowids as FAISS ids.

Three kinds, by size (measured on 200,000 real e5 vectors in bench/ann_real.md):
- under ``half_threshold`` vectors: exact search over float32 vectors (IndexFlatIP). One search
  reads every vector, ~0.06 ms per 1,000 on one core: 2.8 ms at 50,000.
- from there: the same exhaustive search over vectors stored in float16 (IndexScalarQuantizer
  fp16), half the memory traffic, so half the time (6.0 -> 3.1 ms at 10^5, 11.9 -> 6.5 ms at
  2x10^5) and half the size; recall@10 of the float32 top 10 is 0.9985-0.9993.
- past ``hnsw_threshold``: HNSW, under 1 ms. At 2x10^5 real vectors it keeps 0.993 of the exact
  top 10 and 0.995 of the top 100 at efSearch 400 (0.981 / 0.957 at 96), hence HNSW_EF_SEARCH.
A build carries unchanged passages' vectors over from the previous index (``reconstruct``), so
after a float16 build they keep float16's rounding even if the index shrinks below the threshold.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .errors import IndexCorrupt
from .manifest import repair_hint_from_disk

VECTORS_FILE = "vectors.faiss"
DEFAULT_HALF_THRESHOLD = 50_000
DEFAULT_HNSW_THRESHOLD = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 400


def _faiss():
    import faiss  # deferred: the import costs ~0.3 s

    return faiss


def build(ids: np.ndarray, vectors: np.ndarray, dim: int, hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
          half_threshold: int = DEFAULT_HALF_THRESHOLD):
    faiss = _faiss()
    if len(ids) >= hnsw_threshold:
        inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    elif len(ids) >= half_threshold:
        inner = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    else:
        inner = faiss.IndexFlatIP(dim)
    index = faiss.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    return index


def kind_of(index) -> str:
    faiss = _faiss()
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSWFlat):
        return "hnsw"
    return "flat_fp16" if isinstance(inner, faiss.IndexScalarQuantizer) else "flat"


def save(index, path: Path) -> None:
    _faiss().write_index(index, str(path))


READ_AHEAD_BYTES = 64 << 20      # smaller files: the page faults of the first searches cost little


def load(path: Path, mapped: bool = False):
    """The vector index in ``path``; ``mapped``: its vectors memory-mapped, read-only, not read
    into memory (a searcher's: at 10^6 passages opening took 0.6 s instead of 3.1 s)."""
    faiss = _faiss()
    if mapped:
        _read_ahead(path)
    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mapped else 0)
    except RuntimeError as exc:
        raise IndexCorrupt(f"{path} is not a readable FAISS index; {repair_hint_from_disk(Path(path).parent.parent)}") from exc
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else None
    if not isinstance(inner, (faiss.IndexFlatIP, faiss.IndexScalarQuantizer, faiss.IndexHNSWFlat)) \
            or inner.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise IndexCorrupt(f"{path} is not a wenda vector index; {repair_hint_from_disk(Path(path).parent.parent)}")
    if isinstance(inner, faiss.IndexHNSWFlat):
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def _read_ahead(path: Path) -> None:
    """Read a large mapped file once, in the background, in file order: a mapped HNSW search
    touches vectors all over the file, and pages found on disk one by one cost far more than one
    sequential read (1.8 GB at 10^6 passages: 3.5 s here, while the searches alone had p99 ~1 s)."""
    try:
        if path.stat().st_size < READ_AHEAD_BYTES:
            return
    except OSError:
        return                           # read_index names the problem

    def read() -> None:
        try:
            with open(path, "rb", buffering=0) as f:
                chunk = bytearray(1 << 24)
                while f.readinto(chunk):     # without the GIL: searching goes on meanwhile
                    pass
        except OSError:
            pass

    threading.Thread(target=read, name="wenda-read-ahead", daemon=True).start()


def stored_ids(index) -> np.ndarray:
    return _faiss().vector_to_array(index.id_map).astype(np.int64)


def reconstruct(index, ids: list[int] | np.ndarray) -> np.ndarray:
    """The stored vectors of the given ids. Every passage of a sound index has one, so an unknown
    id means the vectors and the passages come from different builds: refused, never zeros."""
    ids = np.asarray(ids, dtype=np.int64)
    try:
        return index.reconstruct_batch(ids).reshape(len(ids), index.d)
    except RuntimeError:
        known = set(stored_ids(index).tolist())
        missing = [int(i) for i in ids if int(i) not in known]
        raise IndexCorrupt(f"the vector index has no vectors for {len(missing)} passages (ids {missing[:5]}"
                           f"{' …' if len(missing) > 5 else ''}); run `wenda index --rebuild`") from None


def halves(index):
    """The float16 exhaustive index as two halves searched side by side (FAISS IndexShards, its own
    threads, no OpenMP team), or None for the other kinds. A single query's exhaustive search runs
    on one core (FAISS splits queries, not vectors), and a search's other core idles meanwhile,
    waiting for it: on the 2-core AMX Xeon 6.0 -> 4.5 ms at 10^5 vectors, the same scores and ids
    for 200 of 200 random queries; a whole search at 10^5 passages 22.0 -> 19.4 ms p50 (docs/
    scaling.md). The halves hold copies of the codes (0.75 KB a vector); the mapped file's pages
    are then read only to reconstruct a few vectors."""
    faiss = _faiss()
    if kind_of(index) != "flat_fp16" or index.ntotal < 2:
        return None
    codes = faiss.vector_to_array(faiss.downcast_index(index.index).codes).reshape(index.ntotal, -1)
    ids = stored_ids(index)
    shards = faiss.IndexShards(index.d, True, False)       # threaded; each half keeps its own ids
    middle = index.ntotal // 2
    for part in (slice(0, middle), slice(middle, index.ntotal)):
        half = faiss.IndexScalarQuantizer(index.d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        mapped = faiss.IndexIDMap(half)          # made empty, then given the codes and ids as they are
        faiss.copy_array_to_vector(codes[part].ravel(), half.codes)
        faiss.copy_array_to_vector(ids[part], mapped.id_map)
        half.ntotal = mapped.ntotal = part.stop - part.start
        shards.add_shard(mapped)            # faiss's wrapper keeps the halves alive with it
    return shards


def set_threads(n: int) -> None:
    """FAISS's OpenMP threads (process-wide)."""
    faiss = _faiss()
    if faiss.omp_get_max_threads() != n:
        faiss.omp_set_num_threads(n)


def search(index, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids), each (n_queries, k); ids are -1 where fewer than k results exist."""
    faiss = _faiss()
    k = max(1, min(k, max(index.ntotal, 1)))
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if allowed_ids is None:
        return index.search(queries, k)
    selector = faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
    params = faiss.SearchParametersHNSW(sel=selector) if kind_of(index) == "hnsw" else faiss.SearchParameters(sel=selector)
    return index.search(queries, k, params=params)
