"""Retrieval quality: passage size and fusion method, measured on both public evaluation sets.

    python bench/retrieval.py                      # sizes 300,600,1000; full fusion grid
    python bench/retrieval.py --sizes 1000          # just the default size

For each passage size it builds the seeds index and the CMRC 2018 trial index (each paragraph a
document) under bench/tmp/, scores every question's candidate pool once with all three signals
(dense, jieba BM25, bigram BM25), then ranks the pools under each fusion method and weight set.
Writes bench/retrieval.md and bench/retrieval.json.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

from common import WORK, cache_dir, eval_file, write_results

from wenda.indexer.build import IndexSettings, build_index  # noqa: E402
from wenda.indexer.chunker import ChunkSettings  # noqa: E402
from wenda.indexer import vectors  # noqa: E402
from wenda.search.evaluate import load_questions, normalise, write_corpus  # noqa: E402
from wenda.search.fusion import FusionParams, fuse  # noqa: E402
from wenda.search.searcher import Searcher  # noqa: E402


def build_sets(size: int) -> dict[str, tuple[Path, list]]:
    """{set name: (index dir, answerable questions)} for one passage size."""
    out = {}
    root = Path(__file__).resolve().parent.parent
    for name, file in (("seeds", "seeds_qa.jsonl"), ("cmrc", "cmrc2018_trial.json")):
        kind, questions, corpus = load_questions(eval_file(file))
        if corpus:
            write_corpus(corpus, WORK / "cmrc_corpus")
            paths = [WORK / "cmrc_corpus"]
        else:
            paths = [root / "seeds"]
        index_dir = WORK / f"idx-{name}-{size}"
        chunking = ChunkSettings(max_chars=size)
        t0 = time.perf_counter()
        report = build_index(paths, index_dir, IndexSettings(chunking=chunking), cache_dir())
        print(f"{name} size {size}: {report.passages} passages ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        out[name] = (index_dir, [q for q in questions if q.doc and q.question.strip()])
    return out


def pools(index_dir: Path, questions: list) -> list[tuple[dict, np.ndarray]]:
    """For each question: the signals of its candidate pool and which candidates are relevant."""
    searcher = Searcher.open(index_dir, cache_dir=cache_dir())
    index = searcher.index
    qvecs = searcher.embed_queries([q.question for q in questions])
    dense_scores, dense_ids = vectors.search(index.vectors, qvecs, 100)
    out = []
    for i, q in enumerate(questions):
        query = q.question.strip()
        pool = searcher._pool(index, query, qvecs[i], index.analyzer.tokens(query), dense_scores[i],
                              dense_ids[i], 100, None)
        stored = index.store.passages_by_rowid(pool.rowids.tolist())
        relevant = np.array([stored[int(r)].passage.source == q.doc and
                             any(normalise(a) in normalise(stored[int(r)].passage.text) for a in q.answers)
                             for r in pool.rowids])
        out.append((pool.signals, relevant))
    return out


def score(rows: list[tuple[dict, np.ndarray]], params: FusionParams) -> dict:
    r1 = r5 = r10 = mrr = 0.0
    for signals, relevant in rows:
        order = np.argsort(-fuse(signals, params), kind="stable")
        rel = relevant[order[:10]]
        first = int(np.argmax(rel)) if rel.any() else None
        r1 += first == 0
        r5 += first is not None and first < 5
        r10 += first is not None
        mrr += 1 / (first + 1) if first is not None else 0
    n = len(rows)
    return {"recall@1": r1 / n, "recall@5": r5 / n, "recall@10": r10 / n, "mrr@10": mrr / n}


def grid() -> list[FusionParams]:
    configs = [FusionParams("zscore", dense=1, words=0, grams=0), FusionParams("zscore", dense=0, words=1, grams=0),
               FusionParams("zscore", dense=0, words=0, grams=1),
               FusionParams("zscore", dense=0.5, words=0.5, grams=0), FusionParams("rrf", dense=0.5, words=0.5, grams=0),
               FusionParams("minmax", dense=0.5, words=0.5, grams=0)]
    steps = [round(x, 2) for x in np.arange(0, 1.001, 0.1)]
    for method in ("zscore", "minmax", "rrf"):
        for words, grams in itertools.product(steps, steps):
            if words + grams <= 1.0001:
                configs.append(FusionParams(method, dense=round(1 - words - grams, 2), words=words, grams=grams))
    return configs


def label(p: FusionParams) -> str:
    return f"{p.method} dense {p.dense:.2f} / words {p.words:.2f} / grams {p.grams:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="300,600,1000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    default = FusionParams()
    results: dict = {"sizes": {}, "default_fusion": default.as_dict()}
    md = ["## Passage size (default fusion)\n", "| max chars | set | passages | recall@1 | recall@5 | recall@10 | MRR@10 |",
          "|---|---|---|---|---|---|---|"]
    grid_rows = None
    for size in sizes:
        sets = build_sets(size)
        results["sizes"][size] = {}
        for name, (index_dir, questions) in sets.items():
            rows = pools(index_dir, questions)
            s = score(rows, default)
            results["sizes"][size][name] = s
            n_passages = Searcher.open(index_dir, cache_dir=cache_dir()).index.manifest["counts"]["passages"]
            md.append(f"| {size} | {name} | {n_passages} | {s['recall@1']:.3f} | {s['recall@5']:.3f} | "
                      f"{s['recall@10']:.3f} | {s['mrr@10']:.3f} |")
            if size == ChunkSettings().max_chars:
                grid_rows = grid_rows or {}
                grid_rows[name] = rows
    if grid_rows:
        configs = grid()
        table = []
        for p in configs:
            table.append((p, score(grid_rows["cmrc"], p), score(grid_rows["seeds"], p)))
        # Questions right at rank 1 over both sets pooled (each question counts once), then at rank 5.
        n_cmrc, n_seeds = len(grid_rows["cmrc"]), len(grid_rows["seeds"])

        def pooled(c: dict, s: dict, at: str) -> float:
            return c[at] * n_cmrc + s[at] * n_seeds

        table.sort(key=lambda t: (pooled(t[1], t[2], "recall@1"), pooled(t[1], t[2], "recall@5")), reverse=True)
        # two-fold cross-validation on CMRC: weights chosen on one half, measured on the other
        cmrc = grid_rows["cmrc"]
        halves = (cmrc[::2], cmrc[1::2])
        cv = []
        for train, test in (halves, halves[::-1]):
            best = max(configs, key=lambda p: (score(train, p)["recall@1"], score(train, p)["recall@5"]))
            cv.append({"chosen": best.as_dict(), "train": score(train, best), "test": score(test, best)})
        results["fusion"] = [{"params": p.as_dict(), "cmrc": c, "seeds": s} for p, c, s in table]
        results["cross_validation"] = cv
        md += ["\n## Fusion (passage size %d)\n" % ChunkSettings().max_chars,
               "Signals: dense = cosine of e5 embeddings; words = FTS5 BM25 over jieba search-mode tokens; "
               "grams = FTS5 BM25 over character bigrams. z-score = per-query standardised scores over the "
               "candidate pool (top 100 of each retriever).\n",
               "| fusion | CMRC r@1 | CMRC r@5 | seeds r@1 | seeds r@5 |", "|---|---|---|---|---|"]
        shown = table[:12] + [t for t in table if t[0].method != "zscore" or t[0].grams == 0][:8]
        for p, c, s in shown:
            mark = " **(default)**" if p == default else ""
            md.append(f"| {label(p)}{mark} | {c['recall@1']:.3f} | {c['recall@5']:.3f} | {s['recall@1']:.3f} | "
                      f"{s['recall@5']:.3f} |")
        d = next((t for t in table if t[0] == default), None)
        if d:
            md.append(f"| {label(default)} **(default)** | {d[1]['recall@1']:.3f} | {d[1]['recall@5']:.3f} | "
                      f"{d[2]['recall@1']:.3f} | {d[2]['recall@5']:.3f} |")
        md += ["\n## Two-fold cross-validation on CMRC (weights picked on one half)\n",
               "| chosen on half | r@1 train | r@1 test | r@5 test |", "|---|---|---|---|"]
        for i, row in enumerate(cv):
            ch = row["chosen"]
            md.append(f"| {i + 1}: {ch['method']} {ch['dense']}/{ch['words']}/{ch['grams']} | "
                      f"{row['train']['recall@1']:.3f} | {row['test']['recall@1']:.3f} | {row['test']['recall@5']:.3f} |")
    md.append("\nA hit counts when it comes from the expected source and contains the expected answer "
              "(whitespace removed, full/half width unified). Figures here skip result de-duplication; "
              "`wenda eval` gives the end-to-end numbers (bench/eval.md).")
    write_results("retrieval", "Retrieval: passage size and fusion", "\n".join(md), results)


if __name__ == "__main__":
    main()
