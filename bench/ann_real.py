"""Approximate vs exact vector search on real e5 vectors at the sizes where wenda switches index
kind (indexer/vectors.py): float16 from 50,000 vectors, HNSW from 200,000.

The scaling benchmark has to use random unit vectors at 10^5-10^6 (embedding that many passages
here would take days), and random vectors are the worst case for HNSW: in 384 dimensions all
their neighbours are nearly equidistant. So this benchmark embeds 200,000 distinct real text
spans instead - windows of 8-40 characters at random places in the seed articles and the CMRC
2018 trial paragraphs - with the bundled model (bfloat16 autocast to halve the hour it would take;
its vectors agree with float32 at cosine > 0.9999). The queries are the real questions of both
evaluation sets, embedded as queries. Overlapping windows make the cloud denser than a real
archive (many near-duplicates), which is if anything harder for HNSW.

    python bench/ann_real.py [--n 200000]

Writes bench/ann_real.md/.json; the vectors are cached in bench/tmp/.
"""
from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np

import compare
from common import ROOT, WORK, cache_dir, eval_file, optional_questions, write_results

from wenda.indexer.embed import Embedder  # noqa: E402

SIZES = (50_000, 100_000, 200_000)
EFS = (96, 200, 400)


def texts() -> list[str]:
    out = [p.read_text("utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))]
    data = json.loads(eval_file("cmrc2018_trial.json").read_text("utf-8"))["data"]
    out += [p["context"] for a in data for p in a["paragraphs"]]
    return [re.sub(r"\s+", " ", t) for t in out]


def windows(n: int, seed: int = 11) -> list[str]:
    """n distinct spans of 8-40 characters, starting anywhere in the material."""
    material = texts()
    lengths = np.array([len(t) for t in material], dtype=np.float64)
    rng = np.random.default_rng(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        docs = rng.choice(len(material), size=n, p=lengths / lengths.sum())
        for d, size in zip(docs, rng.integers(8, 41, size=n)):
            text = material[d]
            start = int(rng.integers(0, max(1, len(text) - size)))
            span = text[start:start + size].strip()
            if len(span) >= 8:
                seen.setdefault(span)
            if len(seen) == n:
                break
    return list(seen)


def questions() -> list[str]:
    data = json.loads(eval_file("cmrc2018_trial.json").read_text("utf-8"))["data"]
    cmrc = [q["question"] for a in data for p in a["paragraphs"] for q in p["qas"]]
    seeds = optional_questions("seeds_qa.jsonl")
    return list(dict.fromkeys(q.strip() for q in seeds + cmrc if q.strip()))


def embedded(n: int, embedder: Embedder) -> np.ndarray:
    import torch

    path = WORK / f"ann-real-{embedder.fingerprint}-{n}.npy"
    if path.exists():
        return np.load(path)
    spans = windows(n)
    t = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        vecs = embedder.encode_documents(spans, batch_size=256)
    print(f"embedded {n} spans in {time.perf_counter() - t:.0f} s", flush=True)
    np.save(path, vecs.astype(np.float32))
    return vecs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=max(SIZES))
    args = ap.parse_args()
    embedder = Embedder.load(None, cache_dir())
    base = embedded(args.n, embedder)
    queries = embedder.encode_queries(questions())
    rows = []
    for n in [s for s in SIZES if s <= args.n]:
        rows += compare.exact_vs_ann("real e5 (text spans)", np.ascontiguousarray(base[:n]), queries, EFS)
        print(json.dumps(rows[-1]), flush=True)
    md = [f"{args.n:,} real e5 vectors (text spans of the seeds and CMRC paragraphs, see the docstring), "
          f"{len(queries):,} real questions as queries; recall = share of the exact float32 top-k found; "
          "one query at a time, one thread.", "",
          "| vectors | index | build s | recall@10 | recall@100 | ms p50 / p99 |", "|---|---|---|---|---|---|"]
    md += [f"| {r['n']:,} | {r['index']} | {r.get('build_s', '')} | {r['recall@10']} | {r['recall@100']} | "
           f"{r['ms']['p50']} / {r['ms']['p99']} |" for r in rows]
    write_results("ann_real", "Exact vs approximate vector search on real e5 vectors", "\n".join(md),
                  {"queries": len(queries), "rows": rows})


if __name__ == "__main__":
    main()
