"""End-to-end figures of `wenda eval` on both public sets: retrieval (with de-duplication, as
users see it), answers with the confidence decision, and warm search/ask latency.

    python bench/eval.py

Writes bench/eval.md/.json (the same report `wenda eval FILE --json` prints, per set).
"""
from __future__ import annotations

from common import ROOT, WORK, cache_dir, eval_file, write_results

from wenda.search.evaluate import evaluate_file  # noqa: E402

TARGETS = {"seeds_qa.jsonl": "retrieval hit@1 >= 0.90, hit@5 = 1.00; answers >= 0.85 of answerable, every "
                             "unanswerable refused",
           "cmrc2018_trial.json": "retrieval recall@1 >= 0.98, recall@5 >= 0.997; answers >= 0.80"}


NOT_HELD_OUT = ("\n**Not held out:** the learned ranker (search/data/rank_model.txt), the answer model "
                "(search/data/answer_model.txt) and the answer check's cross-encoder (search/data/answer_cross.*) "
                "were all trained on these two sets, so every column here but the latencies is in-sample. Their "
                "held-out figures (cross-validation by article, 95% intervals) are in [train_ranking.md](train_ranking.md), "
                "[train_answers.md](train_answers.md) and [train_cross.md](train_cross.md).")


def main() -> None:
    reports = {}
    md = ["| set | recall@1 | recall@5 | MRR@10 | answers right (of answerable) | wrong | refused | "
          "unanswerable refused | search p50/p99 ms | ask p50/p99 ms | targets |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in TARGETS:
        seeds = name == "seeds_qa.jsonl"
        report = evaluate_file(eval_file(name), cache_dir(), work_dir=WORK / "eval",
                               corpus_paths=[ROOT / "seeds"] if seeds else None)
        reports[name] = report
        r, a = report["retrieval"], report["answers"]
        unanswerable = a["refused_unanswerable"]
        md.append(f"| {name} | {r['recall@1']:.3f} | {r['recall@5']:.3f} | {r['mrr@10']:.3f} | "
                  f"{a['answered_correctly']} ({a['accuracy_answerable']:.3f}) | {a['answered_wrongly']} | "
                  f"{a['refused']} | {'-' if unanswerable is None else f'{unanswerable:.2f}'} | "
                  f"{report['search_ms']['p50']}/{report['search_ms']['p99']} | "
                  f"{report['ask_ms']['p50']}/{report['ask_ms']['p99']} | {TARGETS[name]} |")
    md.append("\nThe same figures come from `wenda eval ../shared/eval/seeds_qa.jsonl` (with the seeds index) "
              "and `wenda eval ../shared/eval/cmrc2018_trial.json`. Latencies are warm, one client (ask runs after "
              "search on the same questions, so its query vectors come from the cache; bench/results.md has "
              "uncached figures), on a "
              "machine shared with other work (see the load average in bench/results.md).")
    md.append(NOT_HELD_OUT)
    for name, report in reports.items():
        fails = report.get("answer_failures", [])[:15]
        if fails:
            md += [f"\n### {name}: first answer failures\n", "| question | expected | found | answer |",
                   "|---|---|---|---|"]
            md += [f"| {f['question']} | {f['expected']} | {f['found']} | {f['answer'][:60]} |" for f in fails]
    write_results("eval", "End-to-end evaluation (wenda eval)", "\n".join(md), {"reports": reports})


if __name__ == "__main__":
    main()
