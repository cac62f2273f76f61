"""Train the answer model (search/data/answer_model.txt and .json) and report it held out.

    python bench/answer_data.py --build     # once: the public sets indexed in bench/tmp/answers (~20 min)
    python bench/train_answers.py [--folds 5] [--rounds 150]    # (`make bench-answers` runs both)

Examples come from bench/answer_data.py. Every sentence of a question's top passages is one row
(search/candidates.py), labelled 1 when it holds the gold answer. A LightGBM binary model scores
rows; the question is answered by its best row when that row's probability reaches the threshold.

Everything reported is held out: folds by article (an article's questions, its left-out and
swapped variants all in one fold), each fold's model trained on the other folds and its threshold
chosen by an inner cross-validation on them alone. The threshold rule: the most right answers
minus wrong ones, while at most 5% of the unanswerable questions that are not adversarial (the
seeds' own, the swapped ones and the left-out ones) get an answer. Figures come with Wilson 95%
intervals. The shipped model is trained on all folds, with the threshold chosen on the pooled
held-out predictions by the same rule.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict

import numpy as np

import answer_before as before
from answer_data import LEFT_OUT_SETS, SETS, Example, all_examples, hits_of
from common import ROOT, write_results

from wenda.search import answer as extract  # noqa: E402
from wenda.search.answer_span import best_span  # noqa: E402
from wenda.search.candidates import FEATURES, build_candidates, compose, feature_matrix, siblings_of  # noqa: E402
from wenda.search.evaluate import answer_correct, normalise  # noqa: E402
from wenda.search.question import analyse, analyse_over  # noqa: E402
from wenda.search.records import SearchResult  # noqa: E402
from wenda.search.searcher import corrected_query  # noqa: E402

MAX_UNANSWERABLE_ANSWERED = 0.05
CATEGORICAL = ["asked", "language"]


class Rows:
    """Feature rows of all examples, with labels and what each row would answer."""

    def __init__(self) -> None:
        self.X: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.right: list[np.ndarray] = []
        self.owner: list[np.ndarray] = []
        self.texts: list[list[str]] = []       # composed answer text per row


def label_rows(e: Example, candidates) -> tuple[np.ndarray, np.ndarray, list[str]]:
    q = e.question
    labels, rights, texts = [], [], []
    siblings = siblings_of(candidates)
    golds = [normalise(a) for a in q.answers]
    for c in candidates:
        s = c.sentence
        holds = False
        if e.answerable and s.passage.source == q.doc:
            if q.starts:
                holds = any(s.start <= st < s.end for st in q.starts)
            else:
                holds = any(normalise(a) in normalise(s.clean) for a in q.answers)
        text = extract.answer_text(compose(c, candidates, q.question, siblings))
        labels.append(holds)
        rights.append(e.answerable and any(g in normalise(text) for g in golds))
        texts.append(text)
    return np.array(labels, dtype=np.int8), np.array(rights, dtype=bool), texts


def featurise(examples: list[Example], searchers) -> tuple[Rows, list[int]]:
    rows = Rows()
    kept = []
    started = time.perf_counter()
    for n, e in enumerate(examples):
        searcher = searchers[e.set]
        analyzer = searcher.index.analyzer
        answerer = searcher._answerer(searcher.index)
        hits = hits_of(e, searcher)
        asked = corrected_query(searcher.index, e.question.question) or e.question.question   # as serving asks
        analysis = analyse_over(asked, searcher.index)                                       # as serving reads it
        unknown = answerer.unknown_terms(asked, ignore_source=e.question.doc if e.ignore_group else None)
        candidates = build_candidates(asked, analysis, hits, analyzer, len(unknown))
        if not candidates:
            continue
        y, right, texts = label_rows(e, candidates)
        rows.X.append(feature_matrix(candidates))
        rows.y.append(y)
        rows.right.append(right)
        rows.owner.append(np.full(len(candidates), len(kept)))
        rows.texts.append(texts)
        kept.append(n)
        if n % 1000 == 999:
            print(f"  features: {n + 1}/{len(examples)} ({time.perf_counter() - started:.0f} s)", flush=True)
    return rows, kept


def _code_version() -> str:
    """Features depend on this code: a cached feature file is reused only while it is unchanged."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("candidates.py", "answer_span.py", "answer.py", "question.py", "glosses.py", "sentences.py"):
        digest.update((ROOT / "search" / name).read_bytes())
    digest.update((ROOT / "bench" / "train_answers.py").read_bytes().split(b"def train(")[0])
    return digest.hexdigest()[:16]


def set_rows(name: str, examples: list[Example], searchers) -> tuple[Rows, list[Example]]:
    """The rows of one set, from bench/tmp/answers/features-<set>.* when the code is unchanged."""
    from answer_data import DATA

    version = _code_version()
    npz, meta = DATA / f"features-{name}.npz", DATA / f"features-{name}.json"
    keys = [e.key for e in examples]
    if npz.exists() and meta.exists():
        info = json.loads(meta.read_text("utf-8"))
        if info["version"] == version and info["all_keys"] == keys:
            arrays = np.load(npz, allow_pickle=False)
            rows = Rows()
            owner = arrays["owner"]
            cuts = np.flatnonzero(np.diff(owner)) + 1
            rows.X = np.split(arrays["X"], cuts)
            rows.y = np.split(arrays["y"], cuts)
            rows.right = np.split(arrays["right"], cuts)
            rows.owner = np.split(owner, cuts)
            rows.texts = info["texts"]
            by_key = {e.key: e for e in examples}
            return rows, [by_key[k] for k in info["kept"]]
    rows, kept = featurise(examples, searchers)
    np.savez(npz, X=np.vstack(rows.X), y=np.concatenate(rows.y), right=np.concatenate(rows.right),
             owner=np.concatenate(rows.owner))
    meta.write_text(json.dumps({"version": version, "all_keys": keys, "kept": [examples[i].key for i in kept],
                                "texts": rows.texts}, ensure_ascii=False), encoding="utf-8")
    return rows, [examples[i] for i in kept]


def merge_rows(parts: list[Rows]) -> Rows:
    out = Rows()
    offset = 0
    for r in parts:
        out.X += list(r.X)
        out.y += list(r.y)
        out.right += list(r.right)
        out.owner += [np.full(len(o), offset + i) for i, o in enumerate(r.owner)]
        out.texts += r.texts
        offset += len(r.owner)
    return out


def train(X: np.ndarray, y: np.ndarray, rounds: int, seed: int = 0, negative_share: float = 0.3):
    """A LightGBM binary model. A share of the negative rows (most rows are) is kept, weighted up to
    stand for the rest: three times faster to train, the same ranking of candidates."""
    import lightgbm

    rng = np.random.default_rng(seed)
    keep = (y == 1) | (rng.random(len(y)) < negative_share)
    weight = np.where(y[keep] == 1, 1.0, 1.0 / negative_share)
    params = {"objective": "binary", "learning_rate": 0.08, "num_leaves": 31, "min_data_in_leaf": 40,
              "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
              "num_threads": 2, "verbose": -1, "seed": seed, "deterministic": True}
    data = lightgbm.Dataset(X[keep], y[keep], weight=weight, feature_name=list(FEATURES),
                            categorical_feature=CATEGORICAL, free_raw_data=False)
    return lightgbm.train(params, data, num_boost_round=rounds)


def question_outcomes(probabilities: np.ndarray, owners: np.ndarray, rights: np.ndarray, n_questions: int):
    """Per question: the best row's probability, that row's index and whether it answers right."""
    best_p = np.full(n_questions, -1.0)
    best_row = np.full(n_questions, -1)
    for i, (p, o) in enumerate(zip(probabilities, owners)):
        if p > best_p[o]:
            best_p[o], best_row[o] = p, i
    return best_p, best_row, rights[best_row]


def choose_threshold(best_p: np.ndarray, best_right: np.ndarray, answerable: np.ndarray, plain_negative: np.ndarray
                     ) -> float:
    best, best_t = None, 0.5
    for t in np.unique(np.round(best_p, 4)):
        answered = best_p >= t
        if plain_negative.any() and (answered & plain_negative).sum() > MAX_UNANSWERABLE_ANSWERED * plain_negative.sum():
            continue
        right = (answered & answerable & best_right).sum()
        wrong = (answered & ~(answerable & best_right)).sum()
        if best is None or right - wrong > best:
            best, best_t = right - wrong, float(t)
    return best_t


def folds_of(groups: list[str], k: int) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    fold = np.zeros(len(groups), dtype=int)
    for f, (_, test) in enumerate(GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=groups)):
        fold[test] = f
    return fold


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(centre - half, 3), round(centre + half, 3))


def span_scores(golds: tuple[str, ...], span: str | None) -> tuple[float, float]:
    if span is None:
        return 0.0, 0.0
    s = normalise(span)
    em = float(any(normalise(g) == s for g in golds))
    f1 = 0.0
    for g in golds:
        g = normalise(g)
        common = sum(min(s.count(ch), g.count(ch)) for ch in set(s))
        if common:
            p, r = common / len(s), common / len(g)
            f1 = max(f1, 2 * p * r / (p + r))
    return em, f1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--inner-folds", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=150)
    ap.add_argument("--no-write", action="store_true", help="report only; leave search/data/ alone")
    ap.add_argument("--article-swaps", choices=("eval", "train"), default="eval",
                    help="CMRC/DRCD questions asked for an attribute their article never names: only reported "
                         "(default), or also trained on; never part of the threshold rule")
    ap.add_argument("--english", choices=("eval", "train"), default="train",
                    help="the English-mixed variants of answerable questions: trained on and in the threshold "
                         "rule (default), or only reported (what the model does with English it never saw)")
    args = ap.parse_args()

    examples_all, searchers = all_examples()
    parts, examples = [], []
    for name, *_ in SETS:
        rows_of_set, kept = set_rows(name, [e for e in examples_all if e.set == name], searchers)
        parts.append(rows_of_set)
        examples += kept
    rows = merge_rows(parts)
    X = np.vstack(rows.X)
    y = np.concatenate(rows.y)
    rights = np.concatenate(rows.right)
    owners = np.concatenate(rows.owner)
    nq = len(examples)
    answerable = np.array([e.answerable for e in examples])
    adversarial = np.array([e.set == "squad2zh" and not e.answerable for e in examples])
    article_swap = np.array([e.variant == "swapped" and e.set in LEFT_OUT_SETS for e in examples])
    # The threshold rule counts the unanswerable questions it always has: with the article swaps in it,
    # the 5% cap lifted the threshold from 0.60 to 0.75-0.90 and refused a third more answerable ones.
    plain_negative = ~answerable & ~adversarial & ~article_swap
    groups = [f"{e.set}:{e.question.group}" for e in examples]
    # Folds as without the article swaps (each swap goes with its article), so adding them changes
    # no other question's fold.
    base = [g for g, swap in zip(groups, article_swap) if not swap]
    fold_of_group = dict(zip(base, folds_of(base, args.folds)))
    fold = np.array([fold_of_group[g] for g in groups])
    row_fold = fold[owners]
    fit = ~article_swap[owners] if args.article_swaps == "eval" else np.ones(len(owners), dtype=bool)
    in_rule = np.array([args.english == "train" or e.variant != "english" for e in examples])
    fit &= in_rule[owners]
    print(f"{nq} questions, {len(y)} rows, {int(y.sum())} positive rows", flush=True)

    held_p = np.zeros(len(y))
    thresholds = []
    for f in range(args.folds):
        train_q = np.flatnonzero(fold != f)
        inner_base = [groups[i] for i in train_q if not article_swap[i]]
        inner_of_group = dict(zip(inner_base, folds_of(inner_base, args.inner_folds)))
        inner_of = np.full(nq, -1)
        inner_of[train_q] = [inner_of_group[groups[i]] for i in train_q]
        inner_p = np.zeros(len(y))
        for g in range(args.inner_folds):
            fit_rows = (row_fold != f) & (inner_of[owners] != g) & fit
            test_rows = (row_fold != f) & (inner_of[owners] == g)
            inner_p[test_rows] = train(X[fit_rows], y[fit_rows], args.rounds).predict(X[test_rows])
        bp, _, br = question_outcomes(inner_p, owners, rights, nq)
        rule_q = train_q[in_rule[train_q]]
        t = choose_threshold(bp[rule_q], br[rule_q], answerable[rule_q], plain_negative[rule_q])
        thresholds.append(t)
        model = train(X[(row_fold != f) & fit], y[(row_fold != f) & fit], args.rounds)
        held_p[row_fold == f] = model.predict(X[row_fold == f])
        print(f"  fold {f}: threshold {t:.3f}", flush=True)

    best_p, best_row, best_right = question_outcomes(held_p, owners, rights, nq)
    answered = best_p >= np.array(thresholds)[fold]
    report = outcome_table(examples, answered, best_right, best_row, rows)
    baseline = baseline_table(examples, searchers)

    final = train(X[fit], y[fit], args.rounds)
    final_t = choose_threshold(best_p[in_rule], best_right[in_rule], answerable[in_rule], plain_negative[in_rule])
    # The same held-out probabilities at the shipped threshold: one scalar chosen on them, so a
    # little optimistic, where the table above (thresholds from inner folds of models trained on
    # half as much data, which are less sure of themselves) is pessimistic.
    at_shipped = outcome_table(examples, best_p >= final_t, best_right, best_row, rows)
    from answer_data import DATA

    np.savez(DATA / "held_out.npz", best_p=best_p, best_right=best_right, answerable=answerable,
             adversarial=adversarial, fold=fold, thresholds=np.array(thresholds), row_p=held_p, owners=owners,
             row_right=rights, plain_negative=plain_negative, in_rule=in_rule, article_swap=article_swap)
    # what bench/train_cross.py reads beside it: each question and each row's answer text
    (DATA / "held_out.json").write_text(json.dumps(
        {"questions": [{"key": e.key, "set": e.set, "variant": e.variant, "style": e.style,
                        "question": e.question.question} for e in examples],
         "texts": [t for texts in rows.texts for t in texts]}, ensure_ascii=False), encoding="utf-8")
    importance = dict(sorted(zip(FEATURES, final.feature_importance("gain").round(1).tolist()),
                             key=lambda kv: -kv[1]))
    record = {"features": list(FEATURES), "threshold": round(final_t, 4), "rounds": args.rounds,
              "trained_on": [s[1] for s in SETS], "command": "python bench/train_answers.py",
              "fold_thresholds": [round(t, 4) for t in thresholds], "held_out": report,
              "feature_gain": importance}
    if not args.no_write:
        (ROOT / "search" / "data" / "answer_model.txt").write_text(final.model_to_string(), encoding="utf-8")
        (ROOT / "search" / "data" / "answer_model.json").write_text(
            json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print("wrote search/data/answer_model.txt and .json")
    write_results("train_answers", "Answer model: held-out figures (cross-validation by article)",
                  markdown(report, baseline, thresholds, final_t, importance, nq, len(y), args)
                  + "\n\n" + shipped_markdown(at_shipped, final_t)
                  + "\n\n" + tradeoff_markdown(best_p, best_right, answerable, plain_negative, adversarial, final_t),
                  {"held_out": report, "held_out_at_shipped_threshold": at_shipped, "before": baseline, "thresholds": thresholds, "threshold": final_t,
                   "feature_gain": importance})


def tradeoff_markdown(best_p, best_right, answerable, plain_negative, adversarial, shipped: float) -> str:
    """Answerable questions against unanswerable ones, by threshold, on the pooled held-out
    probabilities."""
    lines = ["## The trade-off: answerable questions against unanswerable ones, by threshold", "",
             "Pooled held-out probabilities (each question's best sentence, scored by the fold model that did not "
             "train on its article). `plain` = unanswerable questions that are not adversarial (left-out, swapped, "
             "the seeds' own); `adversarial` = Chinese SQuAD 2.0's unanswerable questions. The shipped threshold "
             "is the lowest with at most 5% of plain ones answered.", "",
             "| threshold | answerable right | wrong | refused | plain answered | adversarial answered |",
             "|---|---|---|---|---|---|"]
    for t in sorted({0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, round(shipped, 3)}):
        answered = best_p >= t
        right = int((answered & answerable & best_right).sum())
        lines.append(f"| {t:.3f} | {right} | {int((answered & answerable).sum()) - right} | "
                     f"{int((~answered & answerable).sum())} | {answered[plain_negative].mean():.3f} | "
                     f"{answered[adversarial].mean():.3f} |")
    lines += ["", f"Questions: answerable {int(answerable.sum())}, plain unanswerable {int(plain_negative.sum())}, "
                  f"adversarial {int(adversarial.sum())}"]
    return "\n".join(lines)


def _bucket(e: Example) -> list[str]:
    out = [f"{e.set} {e.variant}"]
    if e.style:
        out.append(f"{e.set} style={e.style}")
    return out


def outcome_table(examples, answered, best_right, best_row, rows) -> dict:
    table: dict[str, dict] = defaultdict(lambda: {"n": 0, "right": 0, "wrong": 0, "refused": 0,
                                                 "span_n": 0, "span_em": 0.0, "span_f1": 0.0})
    texts = [t for ts in rows.texts for t in ts]
    for i, e in enumerate(examples):
        for b in _bucket(e):
            row = table[b]
            row["n"] += 1
            if not answered[i]:
                row["refused"] += 1
                row["right"] += not e.answerable
            elif e.answerable and best_right[i]:
                row["right"] += 1
            else:
                row["wrong"] += 1
            if e.answerable and answered[i] and e.question.starts:
                searcher_text = texts[best_row[i]]
                span = _span_of(e, searcher_text)
                em, f1 = span_scores(e.question.answers, span)
                row["span_n"] += 1
                row["span_em"] += em
                row["span_f1"] += f1
    out = {}
    for b, row in sorted(table.items()):
        row["right_share"] = round(row["right"] / row["n"], 4)
        row["right_ci95"] = wilson(row["right"], row["n"])
        if row["span_n"]:
            row["span_em"] = round(row["span_em"] / row["span_n"], 4)
            row["span_f1"] = round(row["span_f1"] / row["span_n"], 4)
        out[b] = row
    return out


_ANALYZER = {}


def _span_of(e: Example, text: str) -> str | None:
    from wenda.indexer.tokens import Analyzer

    analyzer = _ANALYZER.setdefault("a", Analyzer())
    span = best_span(text, analyse(e.question.question, analyzer), analyzer)
    return span.text if span else None


def baseline_table(examples, searchers) -> dict:
    """Today's answer layer (before this model) on the same examples and the same hits."""
    table: dict[str, dict] = defaultdict(lambda: {"n": 0, "right": 0, "wrong": 0, "refused": 0})
    for e in examples:
        searcher = searchers[e.set]
        hits = hits_of(e, searcher)
        answerer = searcher._answerer(searcher.index)
        result = SearchResult(e.question.question, hits, 0.0, tuple(searcher.index.analyzer.tokens(e.question.question)))
        best, cands, feats = before.assess(answerer, result, ignore_source=e.question.doc if e.ignore_group else None)
        found = best is not None and before.confidence(feats) >= before.confidence_model()["threshold"]
        text = extract.answer_text(before.compose(best, cands, e.question.question)) if found else ""
        for b in _bucket(e):
            row = table[b]
            row["n"] += 1
            if not found:
                row["refused"] += 1
                row["right"] += not e.answerable
            elif e.answerable and answer_correct(e.question, True, text):
                row["right"] += 1
            else:
                row["wrong"] += 1
    for row in table.values():
        row["right_share"] = round(row["right"] / row["n"], 4)
        row["right_ci95"] = wilson(row["right"], row["n"])
    return dict(sorted(table.items()))


def shipped_markdown(table: dict, threshold: float) -> str:
    lines = [f"## The same held-out probabilities at the shipped threshold ({threshold:.3f})", "",
             "| set / kind | n | right | wrong | refused | right share (95% CI) |", "|---|---|---|---|---|---|"]
    lines += [f"| {b} | {r['n']} | {r['right']} | {r['wrong']} | {r['refused']} | {r['right_share']:.3f} "
              f"{tuple(r['right_ci95'])} |" for b, r in table.items()]
    return "\n".join(lines)


def markdown(report, baseline, thresholds, final_t, importance, nq, nrows, args) -> str:
    lines = [f"{nq} questions ({nrows} candidate sentences), {args.folds} folds by article, inner "
             f"{args.inner_folds}-fold threshold choice; LightGBM {args.rounds} rounds. Fold thresholds: "
             + ", ".join(f"{t:.3f}" for t in thresholds) + f"; shipped model's threshold {final_t:.3f}.",
             "",
             "Right = an answerable question answered with the gold answer inside the answer (at most 160 "
             "characters), or an unanswerable one refused. `left_out`: asked with its article removed "
             "(unanswerable); `swapped`: a seeds question asking for an attribute the seeds never state, or "
             "a CMRC/DRCD question asking for one its article never names (unanswerable; the CMRC/DRCD ones "
             "are not trained on unless --article-swaps train, and never set the threshold). Before = the answer layer this model replaces, on the same hits (it was fitted "
             "on CMRC trial and the seeds questions, so its figures there are not held out).",
             "",
             "| set / kind | n | right | wrong | refused | right share (95% CI) | before: right / wrong / refused"
             " | before share (95% CI) | span EM | span F1 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for b, r in report.items():
        o = baseline.get(b, {})
        lines.append(f"| {b} | {r['n']} | {r['right']} | {r['wrong']} | {r['refused']} | {r['right_share']:.3f} "
                     f"{tuple(r['right_ci95'])} | {o.get('right')} / {o.get('wrong')} / {o.get('refused')} | "
                     f"{o.get('right_share', 0):.3f} {tuple(o.get('right_ci95', ()))} | "
                     f"{r['span_em'] if r['span_n'] else ''} | {r['span_f1'] if r['span_n'] else ''} |")
    lines += ["", "Span EM / F1: of the answered answerable SQuAD-format questions, the typed short answer "
              "(`answer_span`) against the gold spans (questions not of a typed kind count as 0).", "",
              "Feature gain (shipped model): " + ", ".join(f"{k} {v:.0f}" for k, v in list(importance.items())[:15])]
    return "\n".join(lines)


def featurise_sets(names: list[str]) -> None:
    """Search and compute the feature files of the named sets (so they can be made one by one)."""
    chosen = [s for s in SETS if s[0] in names]
    examples, searchers = all_examples(chosen)
    for name, *_ in chosen:
        rows, kept = set_rows(name, [e for e in examples if e.set == name], searchers)
        print(f"{name}: {len(kept)} examples, {sum(len(x) for x in rows.X)} rows", flush=True)


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--features-only":
        featurise_sets(sys.argv[2:])
    else:
        main()
