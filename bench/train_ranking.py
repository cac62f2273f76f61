"""The learned ranker (search/rank_model.py): collect, cross-validate, and ship only if it wins.

    python bench/answer_data.py --build      # the public sets' indexes (shared with the answer model)
    python bench/train_ranking.py [--folds 5] [--rounds 300] [--ship]

For every answerable question of the public sets (CMRC 2018 trial with each paragraph a document;
DRCD test and Chinese SQuAD 2.0 with each article one document, so passages compete inside it; the
seeds questions, as asked and as typed), the fused top 10 and their features come from
`Searcher.rank_candidates`, exactly what serving computes; a candidate is relevant when it is the
question's document and covers a recorded answer start (else holds the answer text). Cached in
bench/tmp/ranking/ by a hash of the code that computes them.

Folds are by article (all of an article's questions in one fold). Each held-out question is ranked
by the model of the other folds and by the fusion; reported: hit@1 and hit@5 with Wilson 95%
intervals, and the paired difference of hit@1 with a bootstrap 95% interval. `--ship` writes
search/data/rank_model.txt/.json, trained on every fold, only when the pooled gain's interval lies
above zero. Writes bench/train_ranking.md and .json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from answer_data import DATA, SETS, _styles, searcher_for
from common import ROOT, WORK, command, eval_file, write_results
from train_answers import folds_of, wilson

from wenda.search.evaluate import _relevant, load_questions
from wenda.search.ranking import DEPTH, RANK_FEATURES

CACHE = WORK / "ranking"
CODE = ("search/ranking.py", "search/question.py", "search/glosses.py", "search/searcher.py", "search/fusion.py",
        "search/answer.py", "search/sentences.py", "indexer/tokens.py")
MODEL_DIR = ROOT / "search" / "data"
PARAMS = {"objective": "lambdarank", "metric": "ndcg", "eval_at": [1], "num_leaves": 15, "learning_rate": 0.05,
          "min_data_in_leaf": 50, "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
          "lambdarank_truncation_level": DEPTH, "verbose": -1, "num_threads": 2, "seed": 7}


def code_version() -> str:
    h = hashlib.sha256()
    for name in CODE:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()[:12]


def collect(name: str, file: str, documents: str, folder: str, searcher) -> dict:
    """Features and labels of one set's answerable questions (cached per code version)."""
    cache = CACHE / f"{name}-{code_version()}.npz"
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return {k: data[k] for k in data.files}
    path = eval_file(file)
    _, questions, _ = load_questions(path, documents)
    styles = _styles(path)
    rows, labels, qids, groups, style_of, seen = [], [], [], [], [], 0
    t0 = time.perf_counter()
    for q in questions:
        if q.doc is None or not q.question.strip():
            continue
        try:
            cands = searcher.rank_candidates(q.question)
        except Exception as exc:     # a question that is not a valid query (empty): not a ranking example
            print(f"  {name} {q.qid}: skipped ({exc})", file=sys.stderr)
            continue
        seen += 1
        for sp, feats in zip(cands.passages, cands.features):
            p = sp.passage
            rows.append(feats)
            labels.append(int(_relevant(p.source, p.text, q, (p.start, p.end))))
            qids.append(seen)
            groups.append(f"{name}:{q.group or q.doc}")
            style_of.append(styles.get(q.qid, ""))
        if seen % 500 == 0:
            print(f"  {name}: {seen} questions ({time.perf_counter() - t0:.0f} s)", flush=True)
    data = {"features": np.array(rows, dtype=np.float64).reshape(-1, len(RANK_FEATURES)),
            "labels": np.array(labels, dtype=np.int32), "qids": np.array(qids, dtype=np.int64),
            "groups": np.array(groups), "styles": np.array(style_of)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **data)
    print(f"{name}: {seen} questions, {len(rows)} candidates ({time.perf_counter() - t0:.0f} s)", flush=True)
    return data


def load_all() -> list[dict]:
    out, searchers, embedder = [], {}, None
    for name, file, documents, folder in SETS:
        if folder not in searchers:
            searchers[folder] = searcher_for(folder, embedder, ranker=None)   # features of the fused order
            embedder = searchers[folder].embedder
        data = collect(name, file, documents, folder, searchers[folder])
        data["set"] = np.array([name] * len(data["labels"]))
        data["qids"] = np.array([f"{name}:{q}" for q in data["qids"]])
        out.append(data)
    return out


def train(features: np.ndarray, labels: np.ndarray, qids: np.ndarray, rounds: int):
    import lightgbm

    _, starts = np.unique(qids, return_index=True)
    order = np.argsort(starts)
    sizes = np.diff(np.append(np.sort(starts), len(qids)))
    assert len(sizes) == len(order)
    ds = lightgbm.Dataset(features, labels, group=sizes, feature_name=list(RANK_FEATURES), free_raw_data=False)
    return lightgbm.train(PARAMS, ds, num_boost_round=rounds)


def first_relevant(scores: np.ndarray, labels: np.ndarray, qids: np.ndarray) -> dict[str, int | None]:
    """Per question, the rank (0-based) of its first relevant candidate under ``scores``; None if
    none of its candidates is relevant."""
    out = {}
    boundaries = np.flatnonzero(np.r_[True, qids[1:] != qids[:-1], True])
    for a, b in zip(boundaries[:-1], boundaries[1:]):
        order = np.lexsort((np.arange(b - a), -scores[a:b]))
        rel = np.flatnonzero(labels[a:b][order])
        out[qids[a]] = int(rel[0]) if len(rel) else None
    return out


def summarise(ranks: dict[str, int | None], keys: list[str]) -> dict:
    n = len(keys)
    at1 = sum(ranks[k] == 0 for k in keys)
    at5 = sum(ranks[k] is not None and ranks[k] < 5 for k in keys)
    return {"n": n, "hit@1": round(at1 / max(n, 1), 4), "hit@1_ci95": wilson(at1, n),
            "hit@5": round(at5 / max(n, 1), 4), "hit@5_ci95": wilson(at5, n)}


def paired_gain(before: dict, after: dict, keys: list[str], draws: int = 2000) -> dict:
    a = np.array([after[k] == 0 for k in keys], dtype=float)
    b = np.array([before[k] == 0 for k in keys], dtype=float)
    d = a - b
    rng = np.random.default_rng(11)
    boot = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(draws)] if len(d) else [0.0]
    return {"gain": round(float(d.mean()) if len(d) else 0.0, 4),
            "ci95": (round(float(np.percentile(boot, 2.5)), 4), round(float(np.percentile(boot, 97.5)), 4)),
            "won": int((d > 0).sum()), "lost": int((d < 0).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--ship", action="store_true", help="write search/data/rank_model.* when the gain holds")
    ap.add_argument("--before", type=Path, help="an earlier run's bench/train_ranking.json: its ranker hit@1 "
                    "beside this run's, by set and style (what a change of the code did)")
    args = ap.parse_args()
    sets = load_all()
    cat = {k: np.concatenate([s[k] for s in sets]) for k in ("features", "labels", "qids", "groups", "styles", "set")}
    X, y, qids, groups = cat["features"], cat["labels"], cat["qids"], cat["groups"]
    fused_rank = X[:, RANK_FEATURES.index("fused_rank")]

    question_groups = {q: g for q, g in zip(qids, groups)}
    keys = list(dict.fromkeys(qids.tolist()))
    fold_of_q = dict(zip(keys, folds_of([question_groups[k] for k in keys], args.folds)))
    row_fold = np.array([fold_of_q[q] for q in qids])
    held_out = np.zeros(len(y))
    for f in range(args.folds):
        train_rows, test_rows = row_fold != f, row_fold == f
        model = train(X[train_rows], y[train_rows], qids[train_rows], args.rounds)
        held_out[test_rows] = model.predict(X[test_rows], num_threads=2)
        print(f"fold {f + 1}/{args.folds} done", flush=True)

    before = first_relevant(-fused_rank, y, qids)
    after = first_relevant(held_out, y, qids)
    set_of = dict(zip(qids, cat["set"]))
    style_of = dict(zip(qids, cat["styles"]))
    report = {"command": command(), "code_version": code_version(), "params": PARAMS, "rounds": args.rounds, "folds": args.folds,
              "features": list(RANK_FEATURES), "by_set": {}, "by_style": {}}
    for name in [s[0] for s in SETS] + ["all"]:
        ks = keys if name == "all" else [k for k in keys if set_of[k] == name]
        report["by_set"][name] = {"fusion": summarise(before, ks), "ranker": summarise(after, ks),
                                  "paired": paired_gain(before, after, ks)}
    for style in sorted({s for s in style_of.values() if s}):
        ks = [k for k in keys if style_of[k] == style]
        report["by_style"][style] = {"fusion": summarise(before, ks), "ranker": summarise(after, ks)}
    if args.before:
        earlier = json.loads(args.before.read_text("utf-8"))
        report["before"] = {"code_version": earlier.get("code_version"),
                            "by_set": {k: v["ranker"] for k, v in earlier["by_set"].items()},
                            "by_style": {k: v["ranker"] for k, v in earlier.get("by_style", {}).items()}}
    pooled = report["by_set"]["all"]["paired"]
    keep = pooled["ci95"][0] > 0
    report["kept"] = keep
    if args.ship:
        if keep:
            model = train(X, y, qids, args.rounds)
            (MODEL_DIR / "rank_model.txt").write_text(model.model_to_string(), encoding="utf-8")
            record = {k: report[k] for k in ("command", "code_version", "params", "rounds", "features", "by_set")}
            (MODEL_DIR / "rank_model.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n",
                                                       encoding="utf-8")
            print("shipped search/data/rank_model.txt", flush=True)
        else:
            for suffix in ("txt", "json"):
                (MODEL_DIR / f"rank_model.{suffix}").unlink(missing_ok=True)
            print("not shipped: the pooled gain's interval reaches zero", flush=True)
    write_results("train_ranking", "Learned ranking vs the fusion, held out by article", render(report), report)


def render(r: dict) -> str:
    lines = [f"{r['folds']} folds by article; each question's fused top {DEPTH} ranked by the model of the other "
             "folds. Wilson 95% intervals; the gain is the paired difference of hit@1 with a bootstrap 95% interval.",
             "", "| set | questions | fusion hit@1 | ranker hit@1 | gain (95%) | won/lost | fusion hit@5 | ranker hit@5 |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in r["by_set"].items():
        f, m, p = row["fusion"], row["ranker"], row["paired"]
        lines.append(f"| {name} | {f['n']} | {f['hit@1']:.3f} ({f['hit@1_ci95'][0]:.3f}–{f['hit@1_ci95'][1]:.3f}) | "
                     f"{m['hit@1']:.3f} ({m['hit@1_ci95'][0]:.3f}–{m['hit@1_ci95'][1]:.3f}) | "
                     f"{p['gain']:+.3f} ({p['ci95'][0]:+.3f}–{p['ci95'][1]:+.3f}) | {p['won']}/{p['lost']} | "
                     f"{f['hit@5']:.3f} | {m['hit@5']:.3f} |")
    if r["by_style"]:
        lines += ["", "seeds questions as people type them (Wilson 95% intervals):", "",
                  "| style | n | fusion hit@1 | ranker hit@1 | fusion hit@5 | ranker hit@5 |", "|---|---|---|---|---|---|"]
        for style, row in r["by_style"].items():
            f, m = row["fusion"], row["ranker"]
            lines.append(f"| {style} | {f['n']} | {_with_ci(f)} | {_with_ci(m)} | {f['hit@5']:.3f} | {m['hit@5']:.3f} |")
    if "before" in r:
        b = r["before"]
        lines += ["", f"Before and after the code change (ranker hit@1, held out; before = code version "
                  f"{b['code_version']}):", "", "| set or style | n | before | after |", "|---|---|---|---|"]
        for kind in ("by_set", "by_style"):
            for name, row in r[kind].items():
                if name in b[kind]:
                    lines.append(f"| {name} | {row['ranker']['n']} | {_with_ci(b[kind][name])} | {_with_ci(row['ranker'])} |")
    lines += ["", f"Kept: **{'yes' if r['kept'] else 'no'}** (shipped only when the pooled gain's interval lies above 0).",
              ""]
    return "\n".join(lines)


def _with_ci(summary: dict) -> str:
    lo, hi = summary["hit@1_ci95"]
    return f"{summary['hit@1']:.3f} ({lo:.3f}–{hi:.3f})"


if __name__ == "__main__":
    main()
