"""Which threads call torch and OpenMP, and what a query embedding costs for it (issue 19).

    python bench/torch_threads.py [--rounds 2] [--queries 60] [--index bench/tmp/synth/n100000-...]

Each case runs in its own process, the cases interleaved round by round; one query at a time:
- one thread: torch called only through indexer/embed.py on_torch_thread (what wenda does);
- two threads: torch called from the main thread and from a pool thread in turn, as searches
  (pool threads) and other callers did before on_torch_thread;
- LightGBM loaded on all cores: a model parsed by lightgbm.Booster as it comes, then torch through
  on_torch_thread; LightGBM loaded on one thread: the bundled ranker as search/lgbm.py loads it;
- ONNX Runtime: the query engine wenda uses by default, with the ranker loaded.
Torch embeds in bfloat16 where the CPU has it natively (as large indexes did), else float32.
With --index, also search p50 over that index with queries through ONNX Runtime and through
torch's bfloat16 (search/searcher.py _half_queries). Writes bench/torch_threads.md and .json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import cache_dir, percentiles, write_results
from scale_worker import questions

CASES = {
    "one-thread": "torch through on_torch_thread",
    "two-threads": "torch from the main thread and a pool thread in turn",
    "lightgbm-all-cores": "after lightgbm.Booster on all cores, torch through on_torch_thread",
    "lightgbm-one-thread": "after the bundled ranker (search/lgbm.py), torch through on_torch_thread",
    "onnx": "ONNX Runtime, the bundled ranker loaded",
}


def run_case(case: str, n: int) -> dict:
    from wenda.indexer.embed import Embedder

    embedder = Embedder.load(None, cache_dir())
    half = embedder.half_available
    if case == "lightgbm-all-cores":
        from wenda.search.lgbm import import_lightgbm, read_bundled
        from wenda.search.rank_model import RankModel

        import_lightgbm().Booster(model_str=read_bundled(RankModel.model_file, RankModel.record_file)[0])
    elif case in ("lightgbm-one-thread", "onnx"):
        from wenda.search.rank_model import bundled_ranker

        bundled_ranker()
    if case == "onnx":
        def encode(q):
            return embedder.encode_queries([q])
    elif case == "two-threads":
        pool = ThreadPoolExecutor(1)
        calls = [0]

        def encode(q):        # the torch encoder called directly, from alternating threads
            calls[0] += 1
            args = ([q], embedder._query_prompt, 32, None, half, False)
            if calls[0] % 2:
                return pool.submit(embedder._encode, *args).result()
            return embedder._encode(*args)
    else:
        def encode(q):
            return embedder.encode_queries([q], half=half)
    qs = questions()[:n + 5]
    for q in qs[:5]:
        encode(q)
    times = []
    for q in qs[5:]:
        t = time.perf_counter()
        encode(q)
        times.append((time.perf_counter() - t) * 1000)
    return {"case": case, "precision": "float32" if case == "onnx" else ("bfloat16" if half else "float32"),
            "ms": percentiles(times)}


def run_search(index: str, n: int, half: bool) -> dict:
    from wenda.search.searcher import Searcher

    searcher = Searcher.open(index, cache_dir=cache_dir())
    available = searcher.embedder.half_available
    searcher._half_queries = half and available
    qs = questions()
    searcher.search(qs[-1])
    times = []
    for q in qs[:n]:
        t = time.perf_counter()
        searcher.search(q)
        times.append((time.perf_counter() - t) * 1000)
    return {"case": f"search, queries through {'torch bfloat16' if half else 'ONNX Runtime'}",
            "available": available or not half, "ms": percentiles(times)}


def child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--index", help="an index folder for the search comparison (bench/synth.py's 10^5)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--search-half", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.queries)))
        return
    if args.search_half:
        print(json.dumps(run_search(args.index, 150, args.search_half == "yes")))
        return
    runs: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for case in CASES:
            runs.setdefault(case, []).append(child(["--case", case, "--queries", str(args.queries)]))
        if args.index:
            for half in ("no", "yes"):
                runs.setdefault(f"search-{half}", []).append(child(["--index", args.index, "--search-half", half]))
    lines = ["One query embedding at a time, each case in its own process, rounds interleaved (p50 / p99 ms "
             "per round).", "", "| case | precision | p50 ms | p99 ms |", "|---|---|---|---|"]
    for case, rs in runs.items():
        what = CASES.get(case, rs[0]["case"])
        if case.startswith("search") and not rs[0].get("available", True):
            what += " (no native bfloat16 here: ONNX Runtime as well)"
        precision = rs[0].get("precision", "")
        lines.append(f"| {what} | {precision} | {' / '.join(str(r['ms']['p50']) for r in rs)} | "
                     f"{' / '.join(str(r['ms']['p99']) for r in rs)} |")
    write_results("torch_threads", "Torch's calling threads and a query embedding's cost", "\n".join(lines),
                  {"runs": runs, "index": args.index})


if __name__ == "__main__":
    main()
