"""Train the answer check's cross-encoder (search/cross.py) and report it held out.

    python bench/train_answers.py [--no-write]   # first: the answer model's held-out probabilities
    python bench/train_cross.py [--folds 5] [--epochs 1] [--ship]     # ~50 min on 2 cores
    python bench/train_cross.py --combine-only [--top K]    # the combination again, on the last run's scores

The answer model's out-of-fold probabilities (bench/tmp/answers/held_out.npz, folds by article)
give each question its best ``READ`` (3) candidate answers. For each fold, LoRA adapters on the
first layers of the bundled e5 and a head are trained on the other folds' questions (their top
candidates, plus a right answer outside them), labelled by whether the answer text holds a gold
answer, and the fold's candidates are scored. The combination (logistic regression on the answer
model's logit and the cross-encoder's) and the threshold for a fold are fitted on the other folds'
out-of-fold scores only, with train_answers.py's rule (most right minus wrong answers, at most 5%
of the plain unanswerable questions answered). The baseline, the answer model alone, gets its
threshold by the same procedure, so the two columns differ only by the cross-encoder.
Shipped (--ship): adapters trained on every fold, combination and threshold on the pooled
out-of-fold scores.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from answer_data import DATA
from common import ROOT, cache_dir, write_results
from train_answers import MAX_UNANSWERABLE_ANSWERED, choose_threshold, wilson

from wenda.indexer import xlmr  # noqa: E402
from wenda.indexer.embed import _locate  # noqa: E402
from wenda.search import cross  # noqa: E402


READ = 3        # candidates per question the cross-encoder trains on and scores held out
SHIPPED_LAYERS = cross.LAYERS


def load():
    held = dict(np.load(DATA / "held_out.npz", allow_pickle=False))
    info = json.loads((DATA / "held_out.json").read_text("utf-8"))
    return held, info["questions"], info["texts"]


def top_rows(row_p: np.ndarray, owners: np.ndarray, nq: int, k: int) -> list[np.ndarray]:
    """Each question's rows, best first, at most k."""
    order = np.lexsort((-row_p, owners))
    cuts = np.searchsorted(owners[order], np.arange(nq + 1))
    return [order[cuts[q]:cuts[q + 1]][:k] for q in range(nq)]


def training_rows(questions: np.ndarray, tops: list[np.ndarray], rights: np.ndarray, all_rows) -> np.ndarray:
    """The top candidates of these questions, and one right answer outside them where there is one."""
    out = []
    for q in questions:
        out += tops[q].tolist()
        extra = [r for r in all_rows[q] if rights[r] and r not in tops[q]]
        out += extra[:1]
    return np.array(out, dtype=int)


class Trainer:
    def __init__(self, folder, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        self.net = cross.Network(folder)
        self.base = cross.base_weights(folder)
        self.pad_id = self.net.encoder.config.pad_id
        hidden = self.net.encoder.config.hidden
        self.params = {}
        for name in cross.adapter_names():
            out_dim, in_dim = self.base[name].shape
            a = torch.empty(cross.RANK, in_dim)
            torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            self.params[name + ".A"] = a.requires_grad_()
            self.params[name + ".B"] = torch.zeros(out_dim, cross.RANK, requires_grad=True)
        self.params["head.weight"] = (torch.randn(1, hidden) * 0.02).requires_grad_()
        self.params["head.bias"] = torch.zeros(1, requires_grad=True)

    def weights(self):
        w = cross.merged(self.base, self.params)
        w["head.weight"], w["head.bias"] = self.params["head.weight"], self.params["head.bias"]
        return w

    def fit(self, pairs: list[list[int]], labels: np.ndarray, epochs: int, batch: int = 16, lr: float = 3e-4,
            seed: int = 0) -> None:
        import torch

        rng = np.random.default_rng(seed)
        opt = torch.optim.AdamW(list(self.params.values()), lr=lr, weight_decay=0.01)
        lengths = np.array([len(p) for p in pairs])
        steps = epochs * math.ceil(len(pairs) / batch)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / (0.06 * steps)) * max(0.0, 1 - s / steps))
        positive = max(1e-3, labels.mean())
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - positive) / positive) ** 0.5)
        started, done = time.perf_counter(), 0
        for epoch in range(epochs):
            # batches of similar length (less padding), in random order
            order = np.argsort(lengths + rng.random(len(pairs)) * 24, kind="stable")
            batches = [order[i:i + batch] for i in range(0, len(order), batch)]
            rng.shuffle(batches)
            for b in batches:
                ids, mask = cross.padded([pairs[i] for i in b], self.pad_id)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    logits = self.net.logits(self.weights(), torch.from_numpy(ids), torch.from_numpy(mask))
                loss = loss_fn(logits.float(), torch.from_numpy(labels[b].astype(np.float32)))
                loss.backward()
                opt.step()
                sched.step()
                opt.zero_grad()
                done += 1
                if done % 200 == 0:
                    print(f"    step {done}/{steps} loss {loss.item():.3f} ({time.perf_counter() - started:.0f} s)",
                          flush=True)

    def score(self, pairs: list[list[int]]) -> np.ndarray:
        """Float32 and no autocast, as search/cross.py serves."""
        import torch

        with torch.no_grad():
            w = {k: v.detach() for k, v in self.weights().items()}
        out = np.zeros(len(pairs), dtype=np.float32)
        order = np.argsort([len(p) for p in pairs])
        with torch.inference_mode():
            for i in range(0, len(order), 32):
                b = order[i:i + 32]
                ids, mask = cross.padded([pairs[j] for j in b], self.pad_id)
                out[b] = self.net.logits(w, torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        return out

    def adapters(self) -> dict:
        return {k: v.detach().contiguous() for k, v in self.params.items()}


def second_rows(row_p: np.ndarray, ce: np.ndarray) -> np.ndarray:
    """search/cross.py's SECOND_FEATURES of every row (only the top rows are read)."""
    return cross.second_features(row_p, ce)


def ranks_and_gaps(tops, row_p: np.ndarray, ce: np.ndarray) -> np.ndarray:
    """Tried beside the two scores, not shipped (inside its interval): each top row's rank by
    either score, the best cross-encoder score among the others, each score's gap to the best."""
    X = np.zeros((len(row_p), 5))
    for t in tops:
        if len(t):
            c = ce[t].astype(np.float64)
            cross_rank = np.empty(len(t))
            cross_rank[np.argsort(-c, kind="stable")] = np.arange(len(t))
            other = [max((c[j] for j in range(len(t)) if j != i), default=-10.0) for i in range(len(t))]
            lp = cross.logit(row_p[t])
            X[t] = np.column_stack([np.arange(len(t)), cross_rank, other, lp[0] - lp, c.max() - c])
    return X


def fit_combination(X: np.ndarray, right: np.ndarray) -> tuple[list[float], float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=2000).fit(X, right.astype(int))
    return [float(c) for c in model.coef_[0]], float(model.intercept_[0])


def combined(X: np.ndarray, coefficients: list[float], intercept: float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(X @ np.array(coefficients) + intercept, -50, 50)))


def best_of(scores: np.ndarray, tops, rights, questions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per question: the best top row's score, that row, whether it answers right."""
    best_p = np.full(len(questions), -1.0)
    best_row = np.full(len(questions), -1)
    for n, q in enumerate(questions):
        rows = tops[q]
        if len(rows):
            j = rows[int(np.argmax(scores[rows]))]
            best_p[n], best_row[n] = scores[j], j
    return best_p, best_row, rights[np.maximum(best_row, 0)] & (best_row >= 0)


def outcomes(answered, right, questions_info, answerable) -> dict:
    table = {}
    for n, qi in enumerate(questions_info):
        kind = "answerable" if answerable[n] else ("adversarial" if qi["set"] == "squad2zh" else "unanswerable")
        for key in (f"{qi['set']} {qi['variant']} {kind}", f"all {kind}"):
            t = table.setdefault(key, {"n": 0, "right": 0, "answered": 0})
            t["n"] += 1
            t["answered"] += int(answered[n])
            t["right"] += int(answered[n] and right[n] and answerable[n])
    return dict(sorted(table.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--ship", action="store_true", help="train on every fold and write search/data/answer_cross.*")
    ap.add_argument("--limit", type=int, default=0, help="train on at most this many pairs a fold (a quick look)")
    ap.add_argument("--quick", action="store_true", help="fold 0 only: how well each score separates right answers")
    ap.add_argument("--top", type=int, default=cross.TOP,
                    help=f"candidates read again at serving, 1 to {READ} (default: search/cross.py's TOP)")
    ap.add_argument("--combine-only", action="store_true",
                    help="reuse the held-out cross-encoder scores of the last run and the shipped adapters; "
                         "fit and report the combination again")
    ap.add_argument("--layers", type=int, default=cross.LAYERS,
                    help="encoder layers to fine-tune and read (a measurement only unless it is search/cross.py's LAYERS)")
    args = ap.parse_args()
    if args.layers != SHIPPED_LAYERS and args.ship:
        ap.error(f"--layers {args.layers} is a measurement: serving reads {SHIPPED_LAYERS} layers (search/cross.py)")
    cross.LAYERS = args.layers          # read at call time by every function of the module
    suffix = "" if args.layers == SHIPPED_LAYERS else f"_l{args.layers}"

    import torch

    torch.set_num_threads(2)
    held, qinfo, texts = load()
    owners, row_p, rights = held["owners"], held["row_p"], held["row_right"]
    nq = len(qinfo)
    fold, answerable = held["fold"], held["answerable"]
    plain_negative, in_rule, article_swap = held["plain_negative"], held["in_rule"], held["article_swap"]
    read = top_rows(row_p, owners, nq, READ)          # trained on and scored
    tops = top_rows(row_p, owners, nq, args.top)      # read again at serving
    all_rows = top_rows(row_p, owners, nq, 10 ** 6)
    folder = _locate(None, cache_dir())[0]
    tokenizer = xlmr.load_tokenizer(folder / "tokenizer.json", xlmr.max_seq_length(folder))
    groups = question_groups(qinfo)
    pair_cache: dict[int, list[int]] = {}

    def pairs_of(rows) -> list[list[int]]:
        for r in rows:
            if r not in pair_cache:
                pair_cache[r] = cross.pair_ids(tokenizer, qinfo[owners[r]]["question"], texts[r])
        return [pair_cache[r] for r in rows]

    fit_q = ~article_swap       # article swaps are only reported, as in train_answers.py
    scored_rows = np.concatenate([t for t in read if len(t)])
    ce = np.zeros(len(row_p), dtype=np.float32)
    started = time.perf_counter()
    if args.combine_only:
        ce = np.load(DATA / f"cross_held_out{suffix}.npy")
    for f in range(0 if args.combine_only else args.folds):
        train_rows = training_rows(np.flatnonzero((fold != f) & fit_q), read, rights, all_rows)
        if args.limit:
            train_rows = np.random.default_rng(f).permutation(train_rows)[:args.limit]
        trainer = Trainer(folder, seed=f)
        print(f"fold {f}: training on {len(train_rows)} pairs ({time.perf_counter() - started:.0f} s)", flush=True)
        trainer.fit(pairs_of(train_rows), rights[train_rows], args.epochs, seed=f)
        test_rows = scored_rows[fold[owners[scored_rows]] == f]
        ce[test_rows] = trainer.score(pairs_of(test_rows))
        if args.quick:
            quick_look(test_rows, row_p, ce, rights, owners, held)
            return
    if not args.combine_only:
        np.save(DATA / f"cross_held_out{suffix}.npy", ce)

    X2 = second_rows(row_p, ce)
    questions = np.arange(nq)
    base_best_p, base_row, base_right = best_of(row_p, tops, rights, questions)

    def held_out(X: np.ndarray, tops=tops) -> tuple[np.ndarray, np.ndarray, list]:
        """Each fold answered by the combination of these features fitted on the other folds."""
        answered, right, combos = np.zeros(nq, dtype=bool), np.zeros(nq, dtype=bool), []
        for f in range(args.folds):
            others = np.flatnonzero(fold != f)
            rows_o = np.concatenate([tops[q] for q in others if fit_q[q]])
            coefficients, intercept = fit_combination(X[rows_o], rights[rows_o])
            combos.append([round(c, 4) for c in coefficients] + [round(intercept, 4)])
            cp, _, cr = best_of(combined(X, coefficients, intercept), tops, rights, questions)
            rule = others[in_rule[others]]
            t = choose_threshold(cp[rule], cr[rule], answerable[rule], plain_negative[rule])
            answered[fold == f], right[fold == f] = cp[fold == f] >= t, cr[fold == f]
        return answered, right, combos

    answered_base = np.zeros(nq, dtype=bool)
    for f in range(args.folds):         # the answer model alone, its threshold chosen the same way
        others = np.flatnonzero(fold != f)
        rule = others[in_rule[others]]
        t = choose_threshold(base_best_p[rule], base_right[rule], answerable[rule], plain_negative[rule])
        answered_base[fold == f] = base_best_p[fold == f] >= t
    answered_cross, cross_right, combos = held_out(X2)

    def score(answered, right):
        return np.where(answered, np.where(right & answerable, 1, -1), 0)

    adversarial = held["adversarial"]

    def summary(answered, right, against=None) -> dict:
        out = {"right_minus_wrong": round(float(score(answered, right).mean()), 4),
               "adversarial_answered": round(float(answered[adversarial].mean()), 3),
               "answerable_right": round(float((answered & right)[answerable].mean()), 3)}
        if against is not None:
            out["against_shipped"] = bootstrap_by_article(score(answered, right) - against, groups)
        return out

    shipped_score = score(answered_cross, cross_right)
    alternatives = {"answer model alone": summary(answered_base, base_right, shipped_score),
                    f"shipped: the best {args.top} read again": summary(answered_cross, cross_right)}
    for k in range(1, READ + 1):
        if k != args.top:
            alternatives[f"the best {k} read again"] = summary(*held_out(X2, top_rows(row_p, owners, nq, k))[:2],
                                                               shipped_score)
    alternatives[f"the best {READ} read again, with both scores' ranks and gaps"] = summary(
        *held_out(np.hstack([X2, ranks_and_gaps(read, row_p, ce)]), read)[:2], shipped_score)

    base_table = outcomes(answered_base, base_right, qinfo, answerable)
    cross_table = outcomes(answered_cross, cross_right, qinfo, answerable)
    diff = bootstrap_by_article(shipped_score - score(answered_base, base_right), groups)
    record_out = {"held_out": {"answer model": base_table, "with cross-encoder": cross_table},
                  "right_minus_wrong_gain_per_question": diff, "alternatives": alternatives,
                  "fold_combinations": combos}
    if (args.ship or args.combine_only) and not suffix:     # a measurement of other layers ships nothing
        ship(folder, read, tops, all_rows, rights, fit_q, X2, answerable, plain_negative, in_rule, args, pairs_of,
             record_out)
    write_results("train_cross" + suffix, "Answer check with the cross-encoder: held-out figures (cross-validation by article)",
                  markdown(base_table, cross_table, diff, alternatives, args), record_out)


def quick_look(rows, row_p, ce, rights, owners, held) -> None:
    from sklearn.metrics import roc_auc_score

    print(f"rows {len(rows)}: AUC right answer, answer model {roc_auc_score(rights[rows], row_p[rows]):.3f}, "
          f"cross-encoder {roc_auc_score(rights[rows], ce[rows]):.3f}")
    # per question, the best top row: answerable and right against adversarial
    best = {}
    for r in rows:
        q = owners[r]
        if q not in best or row_p[r] > row_p[best[q]]:
            best[q] = r
    qs = np.array(sorted(best))
    pos = held["answerable"][qs] & rights[[best[q] for q in qs]]
    adv = held["adversarial"][qs]
    keep = pos | adv
    for name, score in (("answer model", row_p), ("cross-encoder", ce)):
        vals = np.array([score[best[q]] for q in qs])
        print(f"  right answerable vs adversarial, {name}: AUC {roc_auc_score(pos[keep], vals[keep]):.3f}")


def question_groups(qinfo) -> list[str]:
    """Each question's article (its cross-validation group), as answer_data.py's examples say."""
    from answer_data import all_examples

    examples, _ = all_examples()
    group_of = {e.key: f"{e.set}:{e.question.group}" for e in examples}
    return [group_of[q["key"]] for q in qinfo]


def bootstrap_by_article(delta: np.ndarray, groups: list[str], rounds: int = 2000) -> dict:
    """Mean change in (right - wrong) per question, with a 95% interval resampling articles."""
    members: dict[str, list[int]] = {}
    for n, g in enumerate(groups):
        members.setdefault(g, []).append(n)
    sums = np.array([delta[m].sum() for m in members.values()], dtype=float)
    sizes = np.array([len(m) for m in members.values()], dtype=float)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(sums), (rounds, len(sums)))
    means = sums[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    return {"mean": round(float(delta.mean()), 4), "low": round(float(np.percentile(means, 2.5)), 4),
            "high": round(float(np.percentile(means, 97.5)), 4), "questions": int(len(delta)),
            "articles": len(members)}


def ship(folder, read, tops, all_rows, rights, fit_q, X2, answerable, plain_negative, in_rule, args, pairs_of,
         record_out) -> None:
    """The shipped adapters (trained on every fold; --combine-only keeps those shipped) and the
    combination and threshold fitted on the pooled out-of-fold scores."""
    from safetensors.torch import save_file

    questions = np.arange(len(fit_q))
    if not args.combine_only:
        rows = training_rows(np.flatnonzero(fit_q), read, rights, all_rows)
        trainer = Trainer(folder, seed=99)
        print(f"shipped model: training on {len(rows)} pairs", flush=True)
        trainer.fit(pairs_of(rows), rights[rows], args.epochs, seed=99)
        save_file(trainer.adapters(), str(cross.WEIGHTS_FILE))
    pooled = np.concatenate([tops[q] for q in questions if fit_q[q]])
    coefficients, intercept = fit_combination(X2[pooled], rights[pooled])
    cp, _, cr = best_of(combined(X2, coefficients, intercept), tops, rights, questions)
    t = choose_threshold(cp[in_rule], cr[in_rule], answerable[in_rule], plain_negative[in_rule])
    cross.RECORD_FILE.write_text(json.dumps(
        {"combination": {"features": list(cross.SECOND_FEATURES), "coefficients": [round(c, 6) for c in coefficients],
                         "intercept": round(intercept, 6)},
         "threshold": round(t, 4), "layers": cross.LAYERS, "rank": cross.RANK, "top": args.top,
         "epochs": args.epochs,
         "command": "python bench/train_cross.py " + " ".join(sys.argv[1:]),
         "adapters_trained_by": "python bench/train_cross.py --ship, after python bench/train_answers.py "
                                "(its held-out probabilities)",
         "max_unanswerable_answered": MAX_UNANSWERABLE_ANSWERED, **record_out},
        ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {cross.RECORD_FILE}" + ("" if args.combine_only else f" and {cross.WEIGHTS_FILE}"))


def markdown(base: dict, crossed: dict, diff: dict, alternatives: dict, args) -> str:
    lines = [f"{args.folds} folds by article; the cross-encoder ({cross.LAYERS} layers) trained {args.epochs} epoch(s) a fold on the best {READ} "
             f"candidates of the other folds' questions; the best {args.top} read again. With --combine-only: the "
             "held-out cross-encoder scores of the last full run (`python bench/train_cross.py --ship`, about 50 minutes on 2 cores).", "",
             "Right = an answerable question answered with a gold answer inside the answer; every answer to an "
             "unanswerable question is wrong. Thresholds and combinations of each fold fitted on the other folds.", "",
             "| set variant kind | n | answer model: right / answered | with cross-encoder: right / answered |",
             "|---|---|---|---|"]
    for key, b in base.items():
        c = crossed[key]
        if key.split()[-1] == "answerable":
            cell = lambda t: f"{t['right']} / {t['answered']} (right {t['right'] / t['n']:.3f} {wilson(t['right'], t['n'])})"
        else:
            cell = lambda t: f"answered {t['answered']} ({t['answered'] / t['n']:.3f} {wilson(t['answered'], t['n'])})"
        lines.append(f"| {key} | {b['n']} | {cell(b)} | {cell(c)} |")
    lines += ["", f"Change in right minus wrong answers per question: {diff['mean']:+.4f} "
              f"(95% interval over articles {diff['low']:+.4f} to {diff['high']:+.4f}, {diff['questions']} questions, "
              f"{diff['articles']} articles resampled).", "",
              "## Alternatives, held out the same way", "",
              "| | right minus wrong per question | against the shipped one (95% interval) | adversarial answered "
              "| answerable right |", "|---|---|---|---|---|"]
    for name, a in alternatives.items():
        d = a.get("against_shipped")
        against = f"{d['mean']:+.4f} ({d['low']:+.4f} to {d['high']:+.4f})" if d else ""
        lines.append(f"| {name} | {a['right_minus_wrong']:.4f} | {against} | {a['adversarial_answered']:.3f} "
                     f"| {a['answerable_right']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
