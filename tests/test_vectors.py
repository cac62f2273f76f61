"""The vector index kinds (float32 exact, float16, HNSW) and half-precision query embedding."""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import SEEDS
from wenda.indexer import vectors
from wenda.indexer.errors import IndexCorrupt


def _unit(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _questions() -> list[str]:
    """Query-like texts: the opening clause of every fifth line of the seed articles, and a few
    questions of our own."""
    lines = [x.strip() for path in sorted(SEEDS.glob("*.txt"))
             for x in path.read_text(encoding="utf-8").splitlines() if len(x.strip()) > 12]
    clauses = [re.split(r"[，。；：！？]", x)[0][:30] for x in lines[::5]]
    return [c for c in clauses if len(c) >= 6] + ["上海有哪些人工智能企业？", "数据交易所在哪里",
                                                   "2025年的目标是什么", "5G基站的数量"]


@pytest.mark.parametrize("n, kind", [(50, "flat"), (150, "flat_fp16"), (400, "hnsw")])
def test_kind_follows_size_and_survives_a_round_trip(tmp_path, n, kind):
    vecs, ids = _unit(n), np.arange(1000, 1000 + n, dtype=np.int64)
    index = vectors.build(ids, vecs, 32, hnsw_threshold=300, half_threshold=100)
    assert vectors.kind_of(index) == kind
    vectors.save(index, tmp_path / "v.faiss")
    loaded = vectors.load(tmp_path / "v.faiss")
    assert vectors.kind_of(loaded) == kind
    assert np.array_equal(np.sort(vectors.stored_ids(loaded)), ids)
    back = vectors.reconstruct(loaded, ids[:5])
    assert np.allclose(back, vecs[:5], atol=1e-3)             # float16 keeps ~3 significant digits
    scores, found = vectors.search(loaded, vecs[:3], 1)
    assert found[:, 0].tolist() == ids[:3].tolist()           # each vector finds itself
    _, only = vectors.search(loaded, vecs[:1], 5, allowed_ids=ids[10:20])
    assert set(only[0].tolist()) <= set(ids[10:20].tolist())


def test_float16_search_finds_what_exact_search_finds(seeds_index):
    """Real e5 vectors of the seeds: the float16 index's top 10 is the float32 top 10."""
    from wenda.indexer.manifest import current_generation

    exact = vectors.load(current_generation(seeds_index) / vectors.VECTORS_FILE)
    ids = vectors.stored_ids(exact)
    vecs = vectors.reconstruct(exact, ids)
    half = vectors.build(ids, vecs, vecs.shape[1], half_threshold=1)
    assert vectors.kind_of(half) == "flat_fp16"
    queries = vecs[::7]
    s32, i32 = vectors.search(exact, queries, 10)
    s16, i16 = vectors.search(half, queries, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i32.tolist(), i16.tolist())])
    assert overlap >= 0.99
    assert np.abs(s32 - s16).max() < 1e-3


@pytest.mark.parametrize("n, k", [(151, 10), (151, 120), (2001, 100)])
def test_the_float16_index_in_halves_finds_what_the_whole_one_finds(tmp_path, n, k):
    """vectors.halves (both cores for one query) gives the whole index's scores and ids, also when
    k is more than a half holds; the other kinds are not split."""
    vecs, ids = _unit(n, seed=3), np.random.default_rng(5).permutation(10 * n)[:n].astype(np.int64)
    index = vectors.build(ids, vecs, 32, hnsw_threshold=10 * n, half_threshold=100)
    vectors.save(index, tmp_path / "v.faiss")
    loaded = vectors.load(tmp_path / "v.faiss", mapped=True)
    halves = vectors.halves(loaded)
    assert halves is not None and halves.ntotal == n
    queries = _unit(25, seed=4)
    whole, split = vectors.search(loaded, queries, k), vectors.search(halves, queries, k)
    assert np.array_equal(whole[0], split[0]) and np.array_equal(whole[1], split[1])
    assert vectors.halves(vectors.build(ids[:50], vecs[:50], 32, half_threshold=100)) is None


def test_an_index_of_another_metric_is_refused(tmp_path):
    import faiss

    index = faiss.IndexIDMap2(faiss.IndexFlatL2(8))
    index.add_with_ids(_unit(4, 8), np.arange(4, dtype=np.int64))
    faiss.write_index(index, str(tmp_path / "v.faiss"))
    with pytest.raises(IndexCorrupt):
        vectors.load(tmp_path / "v.faiss")


@pytest.mark.slow
def test_half_precision_queries_agree_with_float32(embedder):
    if not embedder.half_available:
        pytest.skip("this CPU has no native bfloat16 (or the model is not the direct encoder)")
    questions = _questions()
    full = np.vstack([embedder.encode_queries([q]) for q in questions])
    half = np.vstack([embedder.encode_queries([q], half=True) for q in questions])
    assert not np.array_equal(full, half)                     # it did take the other path
    assert ((full * half).sum(axis=1) >= 0.9999).all()


@pytest.mark.slow
def test_a_large_index_searches_in_half_precision_with_the_same_results(tmp_path, cache_dir, embedder, searcher,
                                                                       index_copy):
    """An index past the float16 threshold (lowered here) answers like the exact one."""
    import shutil

    from wenda.indexer.build import IndexSettings, build_index
    from wenda.search import Searcher

    # The seeds index rebuilt from the same files in another folder: a new build of every passage
    # with the seeds' own vectors carried over (nothing re-embedded), stored as a float16 index.
    index_dir = index_copy
    corpus = shutil.copytree(SEEDS, tmp_path / "seeds")
    report = build_index([corpus], index_dir, IndexSettings(half_threshold=1), cache_dir, embedder=embedder)
    assert not report.up_to_date and report.embedded == 0 and report.unchanged == report.documents
    half = Searcher.open(index_dir, cache_dir=cache_dir, embedder=embedder)
    assert half.index.manifest["vector_index"]["kind"] == "flat_fp16"
    assert half.half_queries == (embedder.half_available and embedder.query_engine == "torch")
    assert not searcher.half_queries                          # the small seeds index stays float32
    same_top, found = 0, []
    questions = _questions()
    for q in questions:
        a, b = searcher.search(q, k=5).hits, half.search(q, k=5).hits
        same_top += a[0].passage.passage_id == b[0].passage.passage_id
        found.append(len({h.passage.passage_id for h in a} & {h.passage.passage_id for h in b}) / len(a))
        if a[0].passage.passage_id == b[0].passage.passage_id:
            assert abs(a[0].scores.dense - b[0].scores.dense) < 2e-3
    # near-ties may swap (this machine: none did); the approximation must not change results wholesale
    assert same_top >= 0.95 * len(questions)
    assert sum(found) / len(found) >= 0.95


@pytest.mark.slow
def test_builds_embed_in_bfloat16_where_native_and_float32_on_request(tmp_path, cache_dir, embedder, seeds_index):
    """The default build ("auto") and a float32 one give the same passages, vectors within
    cosine 0.9999, and each manifest says which precision embedded them."""
    from wenda.indexer.build import IndexSettings, build_index
    from wenda.indexer.manifest import current_generation, read_manifest

    # One seeds article, as the seeds index has it (same name, so the same passage ids): its
    # passages are compared with theirs.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    smallest = min(SEEDS.glob("*.txt"), key=lambda p: p.stat().st_size)
    (corpus / smallest.name).write_bytes(smallest.read_bytes())
    exact_dir = tmp_path / "index"
    build_index([corpus], exact_dir, IndexSettings(embed_precision="float32"), cache_dir, embedder=embedder)
    auto = read_manifest(current_generation(seeds_index))["vector_index"]["embedding_precision"]
    assert auto == ("bfloat16" if embedder.half_available else "float32")
    assert read_manifest(current_generation(exact_dir))["vector_index"]["embedding_precision"] == "float32"
    a = vectors.load(current_generation(seeds_index) / vectors.VECTORS_FILE)
    b = vectors.load(current_generation(exact_dir) / vectors.VECTORS_FILE)
    ids = vectors.stored_ids(b)
    assert len(ids) > 5 and set(ids.tolist()) <= set(vectors.stored_ids(a).tolist())
    cos = (vectors.reconstruct(a, ids) * vectors.reconstruct(b, ids)).sum(axis=1)
    assert cos.min() >= 0.9999


def test_a_bad_precision_setting_is_refused():
    from wenda.api.settings import Settings
    from wenda.indexer.errors import BadInput

    assert Settings.from_env({"WENDA_EMBED_PRECISION": "Float32"}).embed_precision == "float32"
    with pytest.raises(BadInput, match="WENDA_EMBED_PRECISION"):
        Settings.from_env({"WENDA_EMBED_PRECISION": "fp8"})


@pytest.mark.parametrize("n", [50, 150, 400])
def test_an_unknown_id_is_refused_not_read_as_zeros(n):
    """A passage without a stored vector means the files come from different builds."""
    ids = np.arange(n, dtype=np.int64)
    index = vectors.build(ids, _unit(n), 32, hnsw_threshold=300, half_threshold=100)
    with pytest.raises(IndexCorrupt, match=r"no vectors for 1 passages \(ids \[9999\]\).*wenda index --rebuild"):
        vectors.reconstruct(index, [3, 9999, 4])


def test_a_mapped_index_searches_as_the_read_one_and_is_read_ahead(tmp_path, monkeypatch):
    """A searcher's mapped index (and its background read of the file) gives the same results as
    the index read into memory."""
    import threading

    rng = np.random.default_rng(5)
    base = rng.standard_normal((3000, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    index = vectors.build(np.arange(3000, dtype=np.int64) * 7, base, 32, hnsw_threshold=1000)
    vectors.save(index, tmp_path / "v.faiss")
    monkeypatch.setattr(vectors, "READ_AHEAD_BYTES", 0)
    started = []

    class Recorded(threading.Thread):
        def start(self):
            started.append(self)
            super().start()

    monkeypatch.setattr(vectors.threading, "Thread", Recorded)
    mapped = vectors.load(tmp_path / "v.faiss", mapped=True)
    [reader] = started
    read = vectors.load(tmp_path / "v.faiss")
    queries = base[:20]
    assert all(np.array_equal(a, b) for a, b in zip(vectors.search(mapped, queries, 10), vectors.search(read, queries, 10)))
    assert np.array_equal(vectors.reconstruct(mapped, [7, 14]), vectors.reconstruct(read, [7, 14]))
    reader.join(timeout=30)
    assert not reader.is_alive()
