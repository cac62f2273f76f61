"""Indexing throughput, stage by stage, on real text: the seed articles and the CMRC 2018 trial
paragraphs (one file each), through the indexer's own functions.

chunking = indexer.chunker.chunk_document; jieba = Analyzer.tokens + Analyzer.grams (both lexical
views); embedding = Embedder.encode_documents on the first ``embed_limit`` passages (the slow
stage: a sample keeps the benchmark short); writing = create_store, insert_document,
insert_passages and finish_store (FTS5 indexes, posting arrays, VACUUM) plus the FAISS index.
"""
from __future__ import annotations

import json
import shutil
import time

import numpy as np

from common import ROOT, WORK, cache_dir, eval_file

from wenda.indexer import vectors  # noqa: E402
from wenda.indexer.build import embedding_text  # noqa: E402
from wenda.indexer.chunker import ChunkSettings, chunk_document  # noqa: E402
from wenda.indexer.records import Document  # noqa: E402
from wenda.indexer.store import create_store, finish_store, insert_document, insert_passages  # noqa: E402
from wenda.indexer.tokens import Analyzer  # noqa: E402


def real_documents() -> list[tuple[str, str]]:
    docs = [(p.name, p.read_text(encoding="utf-8")) for p in sorted((ROOT / "seeds").glob("*.txt"))]
    data = json.loads(eval_file("cmrc2018_trial.json").read_text("utf-8"))["data"]
    docs += [(f"cmrc/{p['id']}.txt", p["context"]) for a in data for p in a["paragraphs"]]
    return docs


def measure(embedder, embed_limit: int = 96) -> dict:
    docs = real_documents()
    t = time.perf_counter()
    chunked = [(name, text, *chunk_document(name, text, ChunkSettings())) for name, text in docs]
    chunk_s = time.perf_counter() - t
    passages = [p for *_, ps in chunked for p in ps]
    analyzer = Analyzer()
    analyzer.warm()
    t = time.perf_counter()
    tokens = [analyzer.tokens(p.clean) for p in passages]
    grams = [analyzer.grams(p.clean) for p in passages]
    jieba_s = time.perf_counter() - t
    sample = [embedding_text(p, True) for p in passages[:embed_limit]]
    half = embedder.half_available          # what `wenda index` does by default (embed_precision auto)
    embedder.encode_documents(sample[:4], half=half)
    t = time.perf_counter()
    vecs = embedder.encode_documents(sample, batch_size=32, half=half)
    embed_s = time.perf_counter() - t
    out = WORK / "stages"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    all_vecs = np.resize(vecs, (len(passages), vecs.shape[1]))      # stand-ins beyond the sample
    t = time.perf_counter()
    conn = create_store(out / "passages.sqlite", {"format": "1", "generation": "stages"})
    for name, text, title, _ in chunked:
        insert_document(conn, Document(name, title, text, "0" * 64, "utf-8"))
    insert_passages(conn, passages, tokens, grams)
    conn.commit()
    finish_store(conn)
    ids = np.array([p.rowid for p in passages], dtype=np.int64)
    order = np.argsort(ids)
    vectors.save(vectors.build(ids[order], all_vecs[order], all_vecs.shape[1]), out / "vectors.faiss")
    write_s = time.perf_counter() - t
    n = len(passages)
    return {"documents": len(docs), "passages": n, "chars": sum(len(p.clean) for p in passages),
            "embedded_sample": len(sample), "embedding_precision": "bfloat16" if half else "float32",
            "passages_per_s": {"chunking": round(n / chunk_s, 1), "jieba (words + bigrams)": round(n / jieba_s, 1),
                               "embedding": round(len(sample) / embed_s, 2), "writing (SQLite, FTS5, postings, FAISS)":
                               round(n / write_s, 1)},
            "seconds": {"chunking": round(chunk_s, 3), "jieba": round(jieba_s, 3), "embedding": round(embed_s, 2),
                        "writing": round(write_s, 3)}}


if __name__ == "__main__":
    from wenda.indexer.embed import Embedder

    print(json.dumps(measure(Embedder.load(None, cache_dir())), ensure_ascii=False, indent=1))
