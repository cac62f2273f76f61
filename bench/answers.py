"""Answer extraction: how often the chosen sentence(s) hold the expected answer, before the
confidence decision, under the default weights and the alternatives tried.

    python bench/answers.py [--no-dense]

For every answerable question of both public sets: search (k=8), score the candidate sentences
of the top passages (search/answer.py), and check whether the composed answer of the best one
contains a gold answer. Compared:
- the default AnswerWeights;
- the default plus the e5 cosine of question and sentence (the embedding model as a sentence
  scorer), at several weights;
- weights chosen by coordinate search on one half of CMRC and measured on the other half,
  without and with the sentence cosine (two-fold cross-validation).
Writes bench/answers.md/.json.
"""
from __future__ import annotations

import argparse
import random
from dataclasses import astuple, fields

import numpy as np

from common import ROOT, WORK, cache_dir, eval_file, write_results

from wenda.indexer.build import IndexSettings, build_index  # noqa: E402
from wenda.search import answer as extract  # noqa: E402
from wenda.search.evaluate import load_questions, normalise, write_corpus  # noqa: E402
from wenda.search.searcher import Searcher  # noqa: E402
from wenda.search.sentences import split_sentences  # noqa: E402

WEIGHTS = [f.name for f in fields(extract.AnswerWeights) if f.name != "passages"]
GRID = [-1, -0.5, -0.25, -0.1, 0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2]


def candidate_rows(searcher: Searcher, questions, dense: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per question: a feature matrix (one row per candidate, in WEIGHTS order plus the
    sentence cosine) and whether each candidate's composed answer is right."""
    analyzer = searcher.index.analyzer
    n_passages = extract.AnswerWeights().passages
    cosine: dict[str, np.ndarray] = {}
    out = []
    for q in questions:
        result = searcher.search(q.question, k=8)
        passages = [h.passage for h in result.hits[:n_passages]]
        cands = extract.score_candidates(q.question, passages, analyzer)
        if not cands:
            out.append((np.zeros((1, len(WEIGHTS) + 1)), np.array([False])))
            continue
        sims = np.zeros(len(cands))
        if dense:
            texts = [s.clean for p in passages for s in split_sentences(p) if s.clean not in cosine]
            if texts:
                cosine.update(zip(texts, searcher.embedder.encode_documents(texts)))
            qvec = searcher.embed_queries([q.question])[0]
            sims = np.array([max(float(cosine[s.clean] @ qvec) for s in c.pieces) for c in cands])
            sims = (sims - sims.max()) * 10            # relative to the question's best sentence
        rows = [[c.bigrams, c.words, c.common_run, float(c.typed), -float(c.rank), float(len(c.pieces) - 1),
                 float(c.novel), s] for c, s in zip(cands, sims)]
        right = [c.passage.source == q.doc and any(
            normalise(a) in normalise(extract.answer_text(extract.compose(c, cands, q.question))) for a in q.answers)
            for c in cands]
        out.append((np.array(rows), np.array(right)))
    return out


def accuracy(w: np.ndarray, rows) -> float:
    return float(np.mean([right[np.argmax(F @ w)] for F, right in rows]))


def coordinate_search(rows, start: np.ndarray, free: list[int], rounds: int = 3) -> np.ndarray:
    w, best = start.copy(), accuracy(start, rows)
    for _ in range(rounds):
        for j in free:
            for value in GRID:
                trial = w.copy()
                trial[j] = value
                a = accuracy(trial, rows)
                if a > best + 1e-9:
                    best, w = a, trial
    return w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-dense", action="store_true", help="skip the sentence-embedding variants (faster)")
    args = ap.parse_args()
    dense = not args.no_dense
    _, seeds_q, _ = load_questions(eval_file("seeds_qa.jsonl"))
    _, cmrc_q, corpus = load_questions(eval_file("cmrc2018_trial.json"))
    write_corpus(corpus, WORK / "cmrc_corpus")
    build_index([ROOT / "seeds"], WORK / "idx-seeds", IndexSettings(), cache_dir())
    build_index([WORK / "cmrc_corpus"], WORK / "idx-cmrc", IndexSettings(), cache_dir())
    sets = {}
    for name, qs in (("seeds", seeds_q), ("cmrc", cmrc_q)):
        searcher = Searcher.open(WORK / f"idx-{name}", cache_dir=cache_dir())
        sets[name] = candidate_rows(searcher, [q for q in qs if q.doc and q.question.strip()], dense)
    d = extract.AnswerWeights()
    default = np.array([d.bigrams, d.words, d.common_run, d.answer_type, d.passage_rank, d.two_sentences,
                        d.new_value, 0.0])
    table = [("default weights", default)]
    if dense:
        for cw in (0.05, 0.1, 0.2, 0.5):
            table.append((f"default + sentence cosine x{cw}", np.append(default[:-1], cw)))
    md = ["Share of answerable questions whose extracted answer (before the confidence decision) "
          "holds a gold answer.\n", "| scoring | CMRC trial | seeds |", "|---|---|---|"]
    results = {"weights_order": WEIGHTS + ["sentence_cosine"], "rows": [], "cross_validation": []}
    for label, w in table:
        c, s = accuracy(w, sets["cmrc"]), accuracy(w, sets["seeds"])
        results["rows"].append({"scoring": label, "weights": w.tolist(), "cmrc": c, "seeds": s})
        md.append(f"| {label} | {c:.3f} | {s:.3f} |")
    ceiling = float(np.mean([right.any() for _, right in sets["cmrc"]]))
    md.append(f"| (ceiling: some candidate right) | {ceiling:.3f} | "
              f"{float(np.mean([r.any() for _, r in sets['seeds']])):.3f} |")
    order = list(range(len(sets["cmrc"])))
    random.Random(1).shuffle(order)
    halves = ([sets["cmrc"][i] for i in order[::2]], [sets["cmrc"][i] for i in order[1::2]])
    md += ["\nTwo-fold cross-validation on CMRC (coordinate search on one half, bigram weight fixed at 1):\n",
           "| signals | chosen on | train | held-out half | seeds | weights (" + ", ".join(WEIGHTS) + ", cosine) |",
           "|---|---|---|---|---|---|"]
    variants = [("lexical", list(range(1, len(WEIGHTS))))] + ([("lexical + cosine", list(range(1, len(WEIGHTS) + 1)))]
                                                             if dense else [])
    for label, free in variants:
        for i, (train, test) in enumerate((halves, halves[::-1]), 1):
            w = coordinate_search(train, default, free)
            row = {"signals": label, "half": i, "weights": w.tolist(), "train": accuracy(w, train),
                   "test": accuracy(w, test), "seeds": accuracy(w, sets["seeds"])}
            results["cross_validation"].append(row)
            md.append(f"| {label} | half {i} | {row['train']:.3f} | {row['test']:.3f} | {row['seeds']:.3f} | "
                      f"{', '.join(f'{x:g}' for x in w)} |")
    md.append(f"\nDefault weights: `{astuple(d)}` ({', '.join(WEIGHTS)}, passages).")
    write_results("answers", "Answer extraction: scoring compared", "\n".join(md), results)


if __name__ == "__main__":
    main()
