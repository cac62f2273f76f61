"""Lexical scoring alone, an older commit's indexer/postings.py against this tree's, on one index:
the time of one view's top 100 (Postings.best where the older code has it, else BM25 over every
passage, then its top), and whether the top and every passage's score are the same floats.

    python bench/lexical.py INDEX_DIR [--commit a020346] [--questions 300] [--warm]

Both versions read the same store through the same connection, one query after the other (the
older first), each question's jieba words and bigrams as the searcher builds them. The decoded-row
caches are emptied before every query, so neither gains from a previous one; with ``--warm`` they
are kept, after a first pass over as many other questions, as in a running server where common
terms recur. Writes nothing; prints medians and percentiles in ms and the machine.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import ROOT, machine, percentiles
from scale_worker import questions

from wenda.indexer.manifest import current_generation
from wenda.indexer.store import STORE_FILE, StoreReader
from wenda.indexer.tokens import Analyzer, match_terms


def old_postings(commit: str):
    """indexer/postings.py as of ``commit``, loaded as a module of this tree's wenda.indexer."""
    source = subprocess.run(["git", "show", f"{commit}:indexer/postings.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = ROOT / "bench" / "tmp" / f"postings_{commit}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"wenda.indexer.postings_{commit}", path,
                                                  submodule_search_locations=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "wenda.indexer"
    sys.modules[spec.name] = module       # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index_dir", type=Path)
    ap.add_argument("--commit", default="a020346")
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--warm", action="store_true", help="keep the decoded-row caches between queries")
    args = ap.parse_args()
    store = StoreReader(current_generation(args.index_dir) / STORE_FILE)
    analyzer = Analyzer()
    old = old_postings(args.commit)
    views = ("words", "grams")
    now = {v: store.postings(v) for v in views}
    before = {v: old.Postings.open(store._conn, v, store.view_texts) for v in views}
    def view_terms(asked: list[str]) -> list[tuple[str, list[str]]]:
        work = [(view, match_terms(analyzer.tokens(q) if view == "words" else analyzer.grams(q)))
                for q in asked for view in views]
        return [(view, terms) for view, terms in work if terms]

    asked = questions()
    work = view_terms(asked[:args.questions])
    for v in views:                    # per-view arrays built before timing
        now[v].scores(["上海"])
        before[v].scores(["上海"])
    if args.warm:
        for view, terms in view_terms(asked[args.questions:2 * args.questions]):
            now[view].best(terms, 100)
            before[view].scores(terms)
            if hasattr(before[view], "best"):
                before[view].best(terms, 100)
    times: dict[str, list[float]] = {"before": [], "now": []}
    same = 0
    for view, terms in work:
        for postings in (now[view], before[view]):
            if not args.warm and hasattr(postings, "_cache"):
                postings._cache.clear()
                postings._cached = 0
        t = time.perf_counter()
        if hasattr(before[view], "best"):
            ref_top = before[view].best(terms, 100)[:2]
        else:
            ref_top = before[view].top(before[view].scores(terms), 100)
        times["before"].append((time.perf_counter() - t) * 1000)
        ref = before[view].scores(terms)
        t = time.perf_counter()
        *got_top, score_of = now[view].best(terms, 100)
        times["now"].append((time.perf_counter() - t) * 1000)
        got = score_of(np.arange(now[view].rows))
        same += bool(np.array_equal(ref, got) and all(np.array_equal(a, b) for a, b in zip(ref_top, got_top)))
    m = machine()
    print(f"{args.index_dir.name}: {len(work)} view-queries ({args.questions} questions), {now['grams'].rows:,} "
          f"passages; {m['cpu']}, {m['cores']} cores, {m['date']}, 1-minute load {os.getloadavg()[0]:.2f}")
    for name, ts in times.items():
        p = percentiles(ts)
        print(f"  {name:<7} ({args.commit if name == 'before' else 'this tree'}): p50 {p['p50']} / p95 {p['p95']} / "
              f"p99 {p['p99']} ms, mean {p['mean']}")
    print(f"  same scores of every passage and same top 100 (bit for bit): {same} of {len(work)}")
    sys.exit(0 if same == len(work) else 1)


if __name__ == "__main__":
    main()
