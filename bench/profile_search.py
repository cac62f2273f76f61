"""Where a warm search's time goes on one index: cProfile of searches whose query vectors are
cached (everything but the embedding), and the slowest questions.

    python bench/profile_search.py INDEX_DIR [--questions 200] [--offset 900] [--top 35]

The questions are bench/scale_worker.py's (seeds and CMRC trial), asked once to warm the
caches, then timed one by one and asked again under the profiler. Prints the cached-search
percentiles in ms, the six slowest questions and the profile by cumulative time.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from common import cache_dir, machine, percentiles
from scale_worker import questions

from wenda.search.searcher import Searcher


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index_dir")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--offset", type=int, default=900)
    ap.add_argument("--top", type=int, default=35, help="profile lines to print")
    args = ap.parse_args()
    searcher = Searcher.open(args.index_dir, cache_dir=cache_dir())
    qs = list(dict.fromkeys(questions()[args.offset:args.offset + args.questions]))
    for q in qs:                    # warm: query vectors, decoded posting rows, page cache
        searcher.search(q)
    timed = []
    for q in qs:
        t = time.perf_counter()
        searcher.search(q)
        timed.append(((time.perf_counter() - t) * 1000, q))
    print(f"{args.index_dir}: {len(qs)} cached searches; {machine()}")
    print("ms:", percentiles([t for t, _ in timed]))
    for t, q in sorted(timed, reverse=True)[:6]:
        print(f"  {t:.1f} ms  {q}")
    profile = cProfile.Profile()
    profile.enable()
    for q in qs:
        searcher.search(q)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
