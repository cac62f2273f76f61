"""Synthetic corpora of 10^3..10^6 passages made of real Chinese text, for the scaling benchmarks.

Material: the clauses (text between punctuation marks) of the seed articles and of the CMRC 2018
trial paragraphs. A passage is a random sequence of clauses joined by "，" and "。", as long as a
passage that wenda's chunker cut from the seed articles (the length is drawn from those). Every
passage is distinct; documents hold 50 passages each and take a real article title.

Lexical side: each clause is tokenised once by the real ``Analyzer`` (jieba tokens and character
bigrams); a passage's tokens are its clauses' tokens in order. That equals tokenising the whole
passage, because punctuation ends every jieba block and every bigram run (``check_tokens`` samples
and compares). The store is written by the indexer's own functions (create_store, insert_document,
insert_passages, finish_store).

Vector side (too many passages to embed on this machine): ``random`` unit vectors of the model's
dimension, or ``composed`` vectors, the normalised length-weighted mean of the real e5 embeddings
of the passage's clauses (real geometry, for approximate-search recall), or ``real`` embeddings
of the passages (small sizes only). Built once into bench/tmp/synth/ (git-ignored) and reused.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import ROOT, WORK, cache_dir, eval_file

from wenda.indexer import vectors  # noqa: E402
from wenda.indexer.chunker import ChunkSettings, chunk_document  # noqa: E402
from wenda.indexer.manifest import CURRENT_FILE, FORMAT_VERSION, MANIFEST_FILE, file_digest, write_atomic  # noqa: E402
from wenda.indexer.records import Document, Passage  # noqa: E402
from wenda.indexer.store import STORE_FILE, create_store, finish_store, insert_document, insert_passages  # noqa: E402
from wenda.indexer.tokens import Analyzer  # noqa: E402

VERSION = 2
SYNTH = WORK / "synth"
PER_DOC = 50
_SPLIT = re.compile(r"[，,。！？!?；;：:、\n“”\"「」『』（）()《》【】\[\]…—·\s]+")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Material:
    clauses: list[str]
    tokens: list[list[str]]
    grams: list[list[str]]
    titles: list[str]
    lengths: np.ndarray          # passage lengths (chars) of the chunked seed articles


def material(analyzer: Analyzer) -> Material:
    texts, titles, lengths = [], [], []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        title, passages = chunk_document(path.name, text, ChunkSettings())
        titles.append(title)
        lengths += [len(p.clean) for p in passages]
        texts.append(text)
    cmrc = json.loads(eval_file("cmrc2018_trial.json").read_text(encoding="utf-8"))["data"]
    for article in cmrc:
        titles.append(article.get("title") or "")
        texts += [p["context"] for p in article["paragraphs"]]
    clauses = sorted({c.strip() for t in texts for c in _SPLIT.split(t)
                      if 4 <= len(c.strip()) <= 60 and _CJK.search(c)})
    return Material(clauses, [analyzer.tokens(c) for c in clauses], [analyzer.grams(c) for c in clauses],
                    [t for t in titles if t], np.array(lengths))


def generate(m: Material, n: int, seed: int = 0):
    """Yields (text, clause ids) of n distinct passages."""
    rng = np.random.default_rng(seed)
    sizes = np.array([len(c) for c in m.clauses])
    seen: set[int] = set()
    while len(seen) < n:
        target = int(rng.choice(m.lengths))
        ids: list[int] = []
        parts: list[str] = []
        length = 0
        while length < target:
            run = int(rng.integers(1, 4))          # clauses per sentence
            picked = rng.integers(0, len(m.clauses), run).tolist()
            ids += picked
            parts.append("，".join(m.clauses[i] for i in picked) + "。")
            length += int(sizes[picked].sum()) + run
        text = "".join(parts)
        key = hash(text)
        if key in seen:
            continue
        seen.add(key)
        yield text, ids


def check_tokens(m: Material, analyzer: Analyzer, samples: int = 200) -> float:
    """Share of sampled passages whose clause-wise tokens equal the Analyzer's on the whole text."""
    same = 0
    for text, ids in generate(m, samples, seed=12345):
        same += (analyzer.tokens(text) == [t for i in ids for t in m.tokens[i]]
                 and analyzer.grams(text) == [g for i in ids for g in m.grams[i]])
    return same / samples


def write_store(path: Path, m: Material, items: Iterable[tuple[str, list[int]]],
                generation: str) -> tuple[np.ndarray, list[list[int]]]:
    """The passage store of the passages ``items`` (generate's (text, clause ids)); returns (rowids,
    clause ids) in insertion order."""
    conn = create_store(path, {"format": str(FORMAT_VERSION), "generation": generation})
    rng = np.random.default_rng(1)
    rowids, clause_ids = [], []
    batch: list[tuple[str, list[int]]] = []

    def flush(doc_no: int) -> None:
        source = f"synth/{doc_no:06d}.txt"
        text = "\n\n".join(t for t, _ in batch)
        doc = Document(source, m.titles[int(rng.integers(len(m.titles)))], text, f"{doc_no:064x}", "utf-8")
        insert_document(conn, doc)
        passages, start = [], 0
        for i, (t, _) in enumerate(batch, 1):
            passages.append(Passage(source, doc.title, (), i, start, start + len(t), t, t, ((start, start + len(t)),)))
            start += len(t) + 2
        insert_passages(conn, passages, [[x for c in ids for x in m.tokens[c]] for _, ids in batch],
                        [[x for c in ids for x in m.grams[c]] for _, ids in batch])
        rowids.extend(p.rowid for p in passages)
        clause_ids.extend(ids for _, ids in batch)
        batch.clear()

    for text, ids in items:
        batch.append((text, ids))
        if len(batch) == PER_DOC:
            flush(len(rowids) // PER_DOC)
    if batch:
        flush(len(rowids) // PER_DOC)
    conn.commit()
    finish_store(conn)
    return np.array(rowids, dtype=np.int64), clause_ids


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def random_vectors(n: int, dim: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for i in range(0, n, 100_000):
        out[i:i + 100_000] = unit(rng.standard_normal((min(100_000, n - i), dim), dtype=np.float32))
    return out


def clause_vectors(m: Material, embedder) -> np.ndarray:
    """Real e5 passage embeddings of every clause (cached as .npy beside the corpora)."""
    path = SYNTH / f"clauses-{embedder.fingerprint}-{len(m.clauses)}.npy"
    if path.exists():
        return np.load(path)
    vecs = embedder.encode_documents(m.clauses, batch_size=64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs


def composed_vectors(m: Material, clause_ids: list[list[int]], clause_vecs: np.ndarray) -> np.ndarray:
    from scipy import sparse

    sizes = np.array([len(c) for c in m.clauses], dtype=np.float32)
    cols = np.concatenate([np.asarray(ids) for ids in clause_ids])
    rows = np.repeat(np.arange(len(clause_ids)), [len(ids) for ids in clause_ids])
    weights = sparse.csr_matrix((sizes[cols], (rows, cols)), shape=(len(clause_ids), len(m.clauses)))
    return unit(np.asarray(weights @ clause_vecs))


def timed_store(write, m: Material, n: int) -> tuple[float, float, object]:
    """(store seconds, generation seconds, what ``write(items)`` returned): the n passages' text
    is generated first, so that the store build time is the store's alone. (Until 2026-12-02 the
    generation ran inside the timed build: 486 of 748 s at 10^6.)"""
    t0 = time.perf_counter()
    items = list(generate(m, n))
    generation_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = write(items)
    return time.perf_counter() - t0, generation_s, out


@dataclass
class Corpus:
    """A built synthetic store: its folder, passage rowids and clause ids (for composed vectors)."""

    folder: Path
    rowids: np.ndarray
    clause_ids: list[list[int]]
    seconds: float


def corpus(n: int, analyzer: Analyzer, m: Material) -> Corpus:
    folder = SYNTH / f"n{n}-v{VERSION}"
    done = folder / "done.json"
    if done.exists():
        meta = json.loads(done.read_text())
        ids = np.load(folder / "clause_ids.npy")
        clause_ids = np.split(ids, np.load(folder / "clause_offsets.npy"))
        return Corpus(folder, np.load(folder / "rowids.npy"), [c.tolist() for c in clause_ids], meta["seconds"])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seconds, generation_s, (rowids, clause_ids) = timed_store(lambda items: write_store(folder / STORE_FILE, m, items,
                                                                                       "gen-synth"), m, n)
    np.save(folder / "rowids.npy", rowids)
    np.save(folder / "clause_ids.npy", np.concatenate([np.asarray(c) for c in clause_ids]))
    np.save(folder / "clause_offsets.npy", np.cumsum([len(c) for c in clause_ids])[:-1])
    done.write_text(json.dumps({"passages": n, "seconds": round(seconds, 1), "generation_s": round(generation_s, 1)}))
    print(f"synthetic store of {n} passages built in {seconds:.0f} s (text generated first, {generation_s:.0f} s)",
          file=sys.stderr)
    return Corpus(folder, rowids, clause_ids, seconds)


def index_dir(c: Corpus, kind: str, vecs_of, embedder_info: dict, analyzer: Analyzer,
              hnsw_threshold: int = vectors.DEFAULT_HNSW_THRESHOLD,
              half_threshold: int = vectors.DEFAULT_HALF_THRESHOLD) -> Path:
    """A complete wenda index folder (manifest, CURRENT) over the corpus with ``kind`` vectors;
    ``vecs_of()`` makes the vectors in rowid order when the folder is not cached yet."""
    half = half_threshold <= len(c.rowids) < hnsw_threshold         # float16 vectors (indexer/vectors.py)
    out = c.folder.parent / f"{c.folder.name}-{kind}-t{hnsw_threshold}{'-fp16' if half else ''}"
    if (out / CURRENT_FILE).exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    gen = out / "gen-synth"
    gen.mkdir(parents=True)
    os.link(c.folder / STORE_FILE, gen / STORE_FILE)
    order = np.argsort(c.rowids)
    vecs = vecs_of()[order]
    index = vectors.build(c.rowids[order], vecs, vecs.shape[1], hnsw_threshold, half_threshold)
    vectors.save(index, gen / vectors.VECTORS_FILE)
    manifest = {
        "format": FORMAT_VERSION, "wenda_version": "bench", "generation": "gen-synth",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "root": f"synthetic ({kind} vectors)",
        "model": embedder_info, "chunking": {**ChunkSettings().as_dict(), "embed_context": True},
        "analyzer": analyzer.description(),
        "vector_index": {"kind": vectors.kind_of(index), "metric": "inner_product",
                         "half_threshold": half_threshold, "hnsw_threshold": hnsw_threshold},
        "sources": {}, "counts": {"documents": -(-len(c.rowids) // PER_DOC), "passages": len(c.rowids),
                                  "embedded_this_build": 0},
        "files": {name: file_digest(gen / name) for name in (STORE_FILE, vectors.VECTORS_FILE)},
    }
    write_atomic(gen / MANIFEST_FILE, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    write_atomic(out / CURRENT_FILE, b"gen-synth\n")
    return out


def model_record() -> dict:
    from wenda.indexer.embed import DEFAULT_MODEL, model_fingerprint

    return {"name": DEFAULT_MODEL, "fingerprint": model_fingerprint(None, cache_dir()), "dim": 384,
            "max_seq_length": 512}


def random_index(n: int, analyzer: Analyzer, m: Material) -> Path:
    """The index folder the latency benchmark uses at n passages: random unit vectors, and the vector
    index wenda builds at that size (indexer/vectors.py: float32, float16 or HNSW by size)."""
    c = corpus(n, analyzer, m)
    return index_dir(c, "random", lambda: random_vectors(len(c.rowids), 384), model_record(), analyzer)


if __name__ == "__main__":       # prepare the cached corpora: python bench/synth.py 1000 10000 ...
    a = Analyzer()
    mat = material(a)
    for size in map(int, sys.argv[1:]):
        t0 = time.perf_counter()
        print(random_index(size, a, mat), f"{time.perf_counter() - t0:.0f} s", flush=True)
