"""What the answer check's second look (the cross-encoder, search/cross.py) costs an ask.

    python bench/answer_check_speed.py [INDEX_DIR] [--rounds 3] [--questions 100]     # (make bench-answers)

Warm process, one question at a time. Each round asks the same questions twice, with the second
look and without it (the answer model alone), in alternating order; each question is searched once
before the rounds, so neither side embeds a query the other did not. Prints p50 / p95 per side and
the cold cost of the second look (its first use: loading the graph, or exporting it into a fresh
cache). Questions: the seeds and CMRC 2018 trial questions (bench/scale_worker.py's), timing only.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from common import cache_dir, seeds_index, write_results
from scale_worker import questions

from wenda.search.searcher import Searcher


def pct(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1], 1) if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index_dir", type=Path, nargs="?", help="default: bench/tmp/seeds-index (built if missing)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--questions", type=int, default=100)
    args = ap.parse_args()
    args.index_dir = args.index_dir or seeds_index()

    searcher = Searcher.open(args.index_dir, cache_dir=cache_dir())
    qs = questions()[:args.questions]
    answerer = searcher._answerer(searcher.index)
    started = time.perf_counter()
    look = answerer.second_look
    first_use_ms = (time.perf_counter() - started) * 1000
    if look is None:
        raise SystemExit("no second look here: is search/data/answer_cross.* shipped?")
    for q in qs:
        searcher.search(q)
    times = {"with": [], "without": []}
    changed = 0
    for r in range(args.rounds):
        for side in (("with", "without") if r % 2 == 0 else ("without", "with")):
            answerer._second_look = look if side == "with" else None
            for q in qs:
                t = time.perf_counter()
                searcher.ask(q)
                times[side].append((time.perf_counter() - t) * 1000)
    answerer._second_look = look
    for q in qs:
        a = searcher.ask(q)
        answerer._second_look = None
        b = searcher.ask(q)
        answerer._second_look = look
        changed += (a.found, a.answer) != (b.found, b.answer)
    rows = {side: {"p50": round(statistics.median(v), 1), "p95": pct(v, 95), "asks": len(v)} for side, v in times.items()}
    body = [f"Index: {args.index_dir.name} ({searcher.index.manifest['counts']['passages']} passages); the query "
            "embedding is cached for both sides.", "", "| ask | p50 ms | p95 ms | asks |", "|---|---|---|---|"]
    body += [f"| {side} the second look | {r['p50']} | {r['p95']} | {r['asks']} |" for side, r in rows.items()]
    body += ["", f"First use of the second look (graph loaded or exported): {first_use_ms:.0f} ms "
             f"({look[1].engine}). Questions whose answer or refusal changed: {changed} of {len(qs)}."]
    print("\n".join(body))
    write_results("answer_check_speed", "What the answer check's second look costs an ask", "\n".join(body),
                  {"rows": rows, "first_use_ms": round(first_use_ms), "engine": look[1].engine,
                   "changed": changed, "questions": len(qs)})


if __name__ == "__main__":
    main()
