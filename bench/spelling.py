"""Homophone typo correction (search/spelling.py): how often it fires on questions typed right,
what it changes there, what it costs, and what it recovers on typos.

    python bench/spelling.py [--per-set 1000]

Questions typed right: the public sets' questions over their own indexes (bench/tmp/answers, as
bench/answer_data.py --build makes them): every firing there changes a question that needed no
change. Typos: the seeds questions typed as people type (style "typo") over the seeds index.
Latency: corrected_query alone, per question, warm process.
"""
from __future__ import annotations

import argparse
import json
import time

from answer_data import SETS, searcher_for
from common import eval_file, percentiles, write_results

from wenda.search.evaluate import load_questions
from wenda.search.searcher import corrected_query


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-set", type=int, default=1000, help="questions per public set (the first N)")
    args = ap.parse_args()
    rows, fired_examples, data = [], [], {"sets": {}}
    for name, file, documents, folder in SETS:
        searcher = searcher_for(folder)
        _, questions, _ = load_questions(eval_file(file), documents)
        if name == "seeds_styles":
            styles = {f"q{n}": json.loads(line).get("style", "") for n, line in
                      enumerate(eval_file(file).read_text("utf-8").splitlines(), 1) if line.strip()}
            questions = [q for q in questions if styles.get(q.qid) == "typo"]
            name = "seeds_styles typo"
        questions = [q for q in questions if q.question.strip()][:args.per_set]
        corrected_query(searcher.index, "预热")           # tables loaded before timing
        times, fired = [], []
        for q in questions:
            started = time.perf_counter()
            fixed = corrected_query(searcher.index, q.question)
            times.append((time.perf_counter() - started) * 1000)
            if fixed is not None:
                fired.append((q.question, fixed))
        p = percentiles(times)
        data["sets"][name] = {"questions": len(questions), "fired": len(fired), "ms": p,
                              "changed": [{"typed": a, "searched": b} for a, b in fired]}
        rows.append(f"| {name} | {len(questions)} | {len(fired)} | {p['p50']:.2f} / {p['p99']:.2f} |")
        fired_examples += [f"| {name} | {a} | {b} |" for a, b in fired]
    body = ["| set | questions | corrected | ms p50 / p99 |", "|---|---|---|---|", *rows, "",
            "Every change (on the public sets each is a question typed right, so a false correction unless "
            "the corpus spells the word so):", "", "| set | typed | searched |", "|---|---|---|", *fired_examples]
    write_results("spelling", "Homophone typo correction: firings, changes, cost", "\n".join(body), data)
    print("\n".join(body))


if __name__ == "__main__":
    main()
