"""Same results before and after a speed-up: dump every hit and answer of a query set, compare two dumps.

    python bench/identical.py dump INDEX_DIR OUT.jsonl [--queries N]
    WENDA_CODE_ROOT=/path/to/old/checkout python bench/identical.py dump INDEX_DIR OLD.jsonl
    python bench/identical.py compare OLD.jsonl NEW.jsonl

A dump holds, per query (the seeds questions and CMRC trial questions, some with a document
filter), the ranked passage ids with all four scores as exact floats, and the answer, its
citations' offsets and its confidence. Fusion parameters are fixed here, so a change of the
defaults elsewhere does not show up as a difference, and torch runs one thread on both sides.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from common import eval_file, optional_questions

FUSION = {"method": "zscore", "dense": 0.55, "words": 0.15, "grams": 0.30, "candidates": 100}


def queries(n: int) -> list[tuple[str, str | None]]:
    seeds = optional_questions("seeds_qa.jsonl")
    data = json.loads(eval_file("cmrc2018_trial.json").read_text("utf-8"))["data"]
    cmrc = [q["question"] for a in data for p in a["paragraphs"] for q in p["qas"] if q["question"].strip()]
    out = [(q, None) for q in seeds] + [(q, None) for q in cmrc[: max(0, n - len(seeds))]]
    out += [(q, "00[0-2]_*") for q in (seeds or cmrc)[:8]] + [(q, "synth/00000?.txt") for q in cmrc[:8]]
    return out


def dump(index_dir: Path, out: Path, n: int) -> None:
    code = os.environ.get("WENDA_CODE_ROOT")
    if code:
        sys.path.insert(0, code)
    from wenda.search.fusion import FusionParams
    from wenda.search.searcher import Searcher
    from common import cache_dir

    # one torch thread on both sides: the thread count changes a query vector's last bits (as
    # WENDA_THREADS always has), which is not what this compares
    searcher = Searcher.open(index_dir, cache_dir=cache_dir(), fusion=FusionParams(**FUSION),
                             threads=1)
    sources = [d["source"] for d in searcher.documents()]
    with out.open("w", encoding="utf-8") as fh:
        for q, doc in queries(n):
            if doc and not any(__import__("fnmatch").fnmatchcase(s, doc) for s in sources):
                continue
            r = searcher.search(q, k=10, doc=doc)
            a = searcher.ask(q, doc=doc)
            fh.write(json.dumps({
                "query": q, "doc": doc,
                "hits": [[h.passage.passage_id, h.scores.dense, h.scores.lexical, h.scores.grams, h.scores.fused]
                         for h in r.hits],
                "answer": [a.found, a.answer, round(a.confidence, 12),
                           [[c.passage.passage_id, c.start, c.end] for c in a.citations]],
            }, ensure_ascii=False) + "\n")


def compare(old: Path, new: Path) -> dict:
    a = [json.loads(x) for x in old.read_text("utf-8").splitlines()]
    b = [json.loads(x) for x in new.read_text("utf-8").splitlines()]
    same_hits = sum(x["hits"] == y["hits"] for x, y in zip(a, b))
    same_ids = sum([h[0] for h in x["hits"]] == [h[0] for h in y["hits"]] for x, y in zip(a, b))
    same_answers = sum(x["answer"] == y["answer"] for x, y in zip(a, b))
    same_found = sum(x["answer"][:2] == y["answer"][:2] and x["answer"][3] == y["answer"][3] for x, y in zip(a, b))
    # score differences of the same passage (found by both), whatever its rank
    diff = max([abs(u - v) for x, y in zip(a, b) for h in x["hits"] for g in y["hits"] if h[0] == g[0]
                for u, v in zip(h[1:], g[1:])]
               + [abs(x["answer"][2] - y["answer"][2]) for x, y in zip(a, b)] + [0.0])
    overlap = [len({h[0] for h in x["hits"]} & {h[0] for h in y["hits"]}) / max(1, len(x["hits"]))
               for x, y in zip(a, b) if x["hits"]]
    return {"queries": len(a), "compared": min(len(a), len(b)), "identical_hits_and_scores": same_hits,
            "top10_recall": round(sum(overlap) / max(1, len(overlap)), 4),
            "identical_ranking": same_ids, "identical_answers": same_answers,
            "same_answer_text_and_citations": same_found, "max_score_difference": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("index_dir", type=Path)
    d.add_argument("out", type=Path)
    d.add_argument("--queries", type=int, default=300)
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    args = ap.parse_args()
    if args.cmd == "dump":
        dump(args.index_dir, args.out, args.queries)
    else:
        print(json.dumps(compare(args.old, args.new)))


if __name__ == "__main__":
    main()
