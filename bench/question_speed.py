"""Time the question analysis (search/question.py) once the analyzer is loaded.

    .venv/bin/python bench/question_speed.py [--rounds 50]

Prints the median and 95th percentile per question (wall and thread CPU time) over the typed questions of
tests/test_question.py (each analysed --rounds times), after one warm-up pass.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()

    from tests.test_question import TYPED
    from wenda.indexer.tokens import Analyzer
    from wenda.search.question import analyse, warm

    analyzer = Analyzer()
    warm(analyzer)
    questions = [row[0] for row in TYPED]
    for q in questions:
        analyse(q, analyzer)
    wall, cpu = [], []
    for _ in range(args.rounds):
        for q in questions:
            start, start_cpu = time.perf_counter(), time.thread_time()
            analyse(q, analyzer)
            cpu.append((time.thread_time() - start_cpu) * 1000)
            wall.append((time.perf_counter() - start) * 1000)
    # Wall time includes waits for a busy CPU (a shared machine); thread CPU time does not.
    for name, times in (("wall", wall), ("cpu", cpu)):
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))]
        print(f"{len(questions)} questions x {args.rounds} rounds, {name}: median "
              f"{statistics.median(times):.3f} ms, p95 {p95:.3f} ms, max {times[-1]:.3f} ms")


if __name__ == "__main__":
    main()
