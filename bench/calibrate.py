"""Fit the answer-confidence model (search/data/confidence.json) and record its effect.

    python bench/calibrate.py [--loo 400]

Examples:
- every answerable question of both public sets, labelled by whether the extractive answer is
  right (answering wrongly is what "found" must avoid);
- the unanswerable seeds questions (label 0);
- CMRC questions asked of the corpus without their own paragraph ("leave one out": the corpus
  no longer holds the answer, label 0).
A logistic regression over the evidence features is fitted on them. The threshold maximises right
answers minus wrong ones on the answerable questions (answer when more likely right than wrong),
subject to refusing every unanswerable seeds question and at least 95% of the leave-one-out ones
(where any answer is wrong). Writes bench/calibrate.md/.json and search/data/confidence.json.
"""
from __future__ import annotations

import argparse
import json
import random

import numpy as np

from common import ROOT, WORK, cache_dir, eval_file, write_results

from wenda.indexer.build import IndexSettings, build_index  # noqa: E402
from wenda.search import answer as extract  # noqa: E402
from wenda.search.evaluate import answer_correct, load_questions, write_corpus  # noqa: E402
from wenda.search.records import SearchResult  # noqa: E402
from wenda.search.searcher import Searcher  # noqa: E402

FEATURES = ["bigrams", "words", "common_run", "novel", "asks_kind", "unknown_terms", "missing_terms", "passage_dense"]


def features_and_answers(searcher: Searcher, questions, exclude_gold: bool) -> list[tuple[dict, bool, object]]:
    answerer = searcher._answerer(searcher.index)
    out = []
    for q in questions:
        if not q.question.strip():
            continue
        result = searcher.search(q.question, k=8)
        hits = [h for h in result.hits if not (exclude_gold and h.passage.source == q.doc)][:5]
        result = SearchResult(result.query, hits, result.took_ms, result.terms)
        # Left out, the question's own document must not count as the corpus knowing its terms.
        best, cands, feats = answerer.assess(result, ignore_source=q.doc if exclude_gold else None)
        if best is None:
            continue
        answer = extract.answer_text(extract.compose(best, cands, result.query))   # as if it had to answer
        label = (not exclude_gold) and q.doc is not None and answer_correct(q, True, answer)
        out.append((feats, bool(label), q))
    return out


def fit(X: np.ndarray, y: np.ndarray, l2: float = 1e-2, epochs: int = 4000, lr: float = 0.5):
    mean, std = X.mean(0), X.std(0) + 1e-9
    Z = (X - mean) / std
    w, b = np.zeros(X.shape[1]), 0.0
    weight = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))   # balanced
    for _ in range(epochs):
        p = 1 / (1 + np.exp(-(Z @ w + b)))
        g = (p - y) * weight
        w -= lr * (Z.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    # back to raw feature units, so the product needs no scaler
    raw_w = w / std
    return raw_w, b - float((mean / std) @ w)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loo", type=int, default=400, help="CMRC questions asked without their paragraph")
    args = ap.parse_args()
    _, seeds_q, _ = load_questions(eval_file("seeds_qa.jsonl"))
    _, cmrc_q, corpus = load_questions(eval_file("cmrc2018_trial.json"))
    write_corpus(corpus, WORK / "cmrc_corpus")
    build_index([ROOT / "seeds"], WORK / "idx-seeds", IndexSettings(), cache_dir())
    build_index([WORK / "cmrc_corpus"], WORK / "idx-cmrc", IndexSettings(), cache_dir())
    seeds = Searcher.open(WORK / "idx-seeds", cache_dir=cache_dir())
    cmrc = Searcher.open(WORK / "idx-cmrc", cache_dir=cache_dir())
    rows = {"seeds": features_and_answers(seeds, seeds_q, False),
            "cmrc": features_and_answers(cmrc, cmrc_q, False)}
    loo = random.Random(7).sample([q for q in cmrc_q if q.question.strip()], args.loo)
    rows["cmrc_loo"] = features_and_answers(cmrc, loo, True)
    all_rows = [r for part in rows.values() for r in part]
    X = np.array([[f[n] for n in FEATURES] for f, _, _ in all_rows])
    y = np.array([float(label) for _, label, _ in all_rows])
    w, b = fit(X, y)

    def probs(part):
        return np.array([1 / (1 + np.exp(-(b + sum(w[i] * f[n] for i, n in enumerate(FEATURES))))) for f, _, _ in part])

    table = []
    for t in np.arange(0.05, 0.951, 0.025):
        row = {"threshold": round(float(t), 3)}
        for name, part in rows.items():
            p = probs(part)
            labels = np.array([lab for _, lab, _ in part])
            answerable = np.array([q.doc is not None and name != "cmrc_loo" for _, _, q in part])
            answered = p >= t
            row[name] = {"right": int((answered & labels).sum()), "wrong": int((answered & ~labels).sum()),
                         "refused": int((~answered).sum()),
                         "unanswerable_refused": int((~answered & ~answerable).sum()),
                         "unanswerable": int((~answerable).sum()), "n": len(part)}
        table.append(row)

    def utility(row):
        return sum(row[n]["right"] - row[n]["wrong"] for n in ("seeds", "cmrc"))

    ok = [r for r in table if r["seeds"]["unanswerable_refused"] == r["seeds"]["unanswerable"]
          and r["cmrc_loo"]["refused"] >= 0.95 * r["cmrc_loo"]["n"]]
    chosen = max(ok or table, key=utility)
    model = {"intercept": round(float(b), 4), "weights": {n: round(float(v), 4) for n, v in zip(FEATURES, w)},
             "threshold": chosen["threshold"],
             "provenance": "bench/calibrate.py on seeds_qa.jsonl and cmrc2018_trial.json (with leave-one-out negatives)"}
    (ROOT / "search" / "data" / "confidence.json").write_text(json.dumps(model, ensure_ascii=False, indent=2) + "\n",
                                                              encoding="utf-8")
    md = ["Right / wrong / refused by threshold. *seeds* and *cmrc*: the public questions; *cmrc_loo*: CMRC "
          "questions asked without their paragraph, where every answer is wrong and refusing is right.\n",
          "| threshold | seeds right/wrong/refused | seeds unanswerable refused | cmrc right/wrong/refused | "
          "cmrc_loo wrong/refused |", "|---|---|---|---|---|"]
    for r in table:
        mark = " **(chosen)**" if r is chosen else ""
        s, c, lo = r["seeds"], r["cmrc"], r["cmrc_loo"]
        md.append(f"| {r['threshold']:.3f}{mark} | {s['right']}/{s['wrong']}/{s['refused']} | "
                  f"{s['unanswerable_refused']}/{s['unanswerable']} | {c['right']}/{c['wrong']}/{c['refused']} | "
                  f"{lo['wrong']}/{lo['refused']} |")
    md.append(f"\nModel: `{json.dumps(model, ensure_ascii=False)}`")
    write_results("calibrate", "Answer confidence: calibration and the threshold's effect", "\n".join(md),
                  {"model": model, "table": table})


if __name__ == "__main__":
    main()
