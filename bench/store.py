"""The passage store alone: what each table and index costs on disk, and how long each stage of
writing it takes, on a synthetic corpus (bench/synth.py) or on the DRCD test paragraphs.

    python bench/store.py synth N [--keep DIR] [--index DIR]
    python bench/store.py drcd
    WENDA_CODE_ROOT=/path/with/wenda/package python bench/store.py synth N   # another checkout's code

Prints one JSON object: seconds per stage (the checkpoints of finish_store), file bytes, and bytes
per table/index from SQLite's dbstat virtual table (pages in use, so free space shows apart).
``--index DIR`` also makes DIR a complete index over the store (random unit vectors, the vector
index wenda builds at that size: bench/synth.py's index_dir) for bench/scale_worker.py.
"""
from __future__ import annotations

import os
import sys

if os.environ.get("WENDA_CODE_ROOT"):          # before `common` and `synth` import wenda
    sys.path.insert(0, os.environ["WENDA_CODE_ROOT"])

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from common import eval_file  # noqa: E402

import synth  # noqa: E402

from wenda.indexer import store  # noqa: E402
from wenda.indexer.chunker import ChunkSettings, chunk_document  # noqa: E402
from wenda.indexer.records import Document, Passage  # noqa: E402
from wenda.indexer.tokens import Analyzer  # noqa: E402

BATCH_DOCS = 200          # documents per insert_passages call, as a build's batches would be


def synth_documents(n: int, analyzer: Analyzer):
    """(document, passages, tokens, grams) of n synthetic passages, 50 to a document (synth.py)."""
    m = synth.material(analyzer)
    batch = []
    doc_no = 0

    def flush():
        nonlocal doc_no
        source = f"synth/{doc_no:06d}.txt"
        text = "\n\n".join(t for t, _ in batch)
        doc = Document(source, m.titles[doc_no % len(m.titles)], text, f"{doc_no:064x}", "utf-8")
        passages, start = [], 0
        for i, (t, _) in enumerate(batch, 1):
            passages.append(Passage(source, doc.title, (), i, start, start + len(t), t, t, ((start, start + len(t)),)))
            start += len(t) + 2
        out = (doc, passages, [[x for c in ids for x in m.tokens[c]] for _, ids in batch],
               [[x for c in ids for x in m.grams[c]] for _, ids in batch])
        batch.clear()
        doc_no += 1
        return out

    for text, ids in synth.generate(m, n):
        batch.append((text, ids))
        if len(batch) == synth.PER_DOC:
            yield flush()
    if batch:
        yield flush()


def drcd_documents(analyzer: Analyzer):
    """The DRCD test paragraphs, one document each, chunked and tokenised as `wenda index` does."""
    data = json.loads(eval_file("drcd_test.json").read_text("utf-8"))["data"]
    for a in data:
        for j, p in enumerate(a["paragraphs"]):
            source = f"drcd/{p.get('id', a.get('id', len(a)))}-{j}.txt"
            title, passages = chunk_document(source, p["context"], ChunkSettings())
            doc = Document(source, title or a.get("title", ""), p["context"], "0" * 64, "utf-8")
            yield doc, passages, [analyzer.tokens(x.clean) for x in passages], [analyzer.grams(x.clean) for x in passages]


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes of the pages each table or index uses (dbstat), largest first."""
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    conn.close()
    return {name: int(size) for name, size in rows}


def measure(docs, out: Path) -> dict:
    analyzer_s = time.perf_counter()
    material = list(docs)          # generation and tokenisation are not the store's cost
    analyzer_s = time.perf_counter() - analyzer_s
    n = sum(len(ps) for _, ps, _, _ in material)
    path = out / store.STORE_FILE
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    conn = store.create_store(path, {"format": "1", "generation": "gen-synth"})
    for i in range(0, len(material), BATCH_DOCS):
        part = material[i:i + BATCH_DOCS]
        for doc, *_ in part:
            store.insert_document(conn, doc)
        store.insert_passages(conn, [p for _, ps, _, _ in part for p in ps], [x for *_, ts, _ in part for x in ts],
                              [x for *_, gs in part for x in gs])
    conn.commit()
    seconds["insert"] = time.perf_counter() - t
    last = [time.perf_counter()]

    def checkpoint(name: str) -> None:
        now = time.perf_counter()
        seconds[name] = now - last[0]
        last[0] = now

    store.finish_store(conn, checkpoint)
    checkpoint("close")
    total = sum(seconds.values())
    size = path.stat().st_size
    tables = table_bytes(path)
    rowids = [p.rowid for _, ps, _, _ in material for p in ps]
    return rowids, {"passages": n, "documents": len(material), "text_chars": sum(len(d.text) for d, *_ in material),
            "prepare_s (not store)": round(analyzer_s, 1),
            "store_s": round(total, 2), "stages_s": {k: round(v, 2) for k, v in seconds.items()},
            "file_bytes": size, "bytes_per_passage": round(size / n, 1),
            "tables_bytes_per_passage": {k: round(v / n, 1) for k, v in tables.items()},
            "code": os.environ.get("WENDA_CODE_ROOT") or "this checkout"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", choices=["synth", "drcd"])
    ap.add_argument("n", type=int, nargs="?", default=10_000)
    ap.add_argument("--keep", type=Path, help="write the store into this folder and keep it")
    ap.add_argument("--index", type=Path, help="and make this folder an index over it")
    args = ap.parse_args()
    if args.index:
        args.keep = args.index / "store"
    analyzer = Analyzer()
    docs = synth_documents(args.n, analyzer) if args.corpus == "synth" else drcd_documents(analyzer)
    out = args.keep or Path(tempfile.mkdtemp(prefix="wenda-store-"))
    out.mkdir(parents=True, exist_ok=True)
    (out / store.STORE_FILE).unlink(missing_ok=True)
    try:
        rowids, row = measure(docs, out)
        if args.index:
            import numpy as np

            corpus = synth.Corpus(out, np.array(rowids, dtype=np.int64), [], row["store_s"])
            row["index"] = str(synth.index_dir(corpus, "random", lambda: synth.random_vectors(len(rowids), 384),
                                               synth.model_record(), analyzer))
            gen = Path(row["index"]) / "gen-synth"
            row["index_bytes_per_passage"] = {f.name: round(f.stat().st_size / len(rowids), 1) for f in gen.iterdir()}
        print(json.dumps({"corpus": args.corpus, **row}, ensure_ascii=False))
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
