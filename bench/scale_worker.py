"""One process of the scaling benchmark: open an index, answer once (cold start), then time search
and ask on questions it has not seen (so no query embedding comes from the cache), one at a time.

    python bench/scale_worker.py INDEX_DIR [--search 200] [--ask 100] [--offset 0] [--threads N] [--query-engine E]

Prints one JSON object: cold start (seconds from the parent's process start, WENDA_T0, to the
first answer), latency percentiles in ms, peak RSS (VmHWM) in MB. WENDA_CODE_ROOT runs another
checkout's code (the "before" rows).
"""
from __future__ import annotations

import time

T_IMPORT = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from common import cache_dir, eval_file, optional_questions, percentiles  # noqa: E402


def questions() -> list[str]:
    data = json.loads(eval_file("cmrc2018_trial.json").read_text("utf-8"))["data"]
    cmrc = [q["question"] for a in data for p in a["paragraphs"] for q in p["qas"]]
    seeds = optional_questions("seeds_qa.jsonl")
    return list(dict.fromkeys(q.strip() for q in seeds + cmrc if q.strip()))


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("index_dir", type=Path)
    ap.add_argument("--search", type=int, default=200)
    ap.add_argument("--ask", type=int, default=100)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="0 = wenda's default")
    ap.add_argument("--query-engine", default=None, help="auto, onnx or torch (default: the code's own default)")
    args = ap.parse_args()
    code = os.environ.get("WENDA_CODE_ROOT")
    if code:
        sys.path.insert(0, code)
    t0 = float(os.environ.get("WENDA_T0", T_IMPORT))
    from wenda.search.searcher import Searcher

    qs = questions()
    engine = {"query_engine": args.query_engine} if args.query_engine else {}     # older code has no such option
    searcher = Searcher.open(args.index_dir, cache_dir=cache_dir(), threads=args.threads or None, **engine)
    first = searcher.ask(qs[-1])
    cold = time.time() - t0
    search_ms, ask_ms = [], []
    pool = qs[args.offset:] + qs[:args.offset]
    for q in pool[:args.search]:
        started = time.perf_counter()
        searcher.search(q, k=5)
        search_ms.append((time.perf_counter() - started) * 1000)
    for q in pool[args.search:args.search + args.ask]:
        started = time.perf_counter()
        searcher.ask(q)
        ask_ms.append((time.perf_counter() - started) * 1000)
    # where the time goes: the query embedding alone (new questions), and a search whose query
    # vector is already in the cache (the same questions again: everything but the embedding)
    embed_ms, cached_ms = [], []
    for q in pool[args.search + args.ask:args.search + args.ask + args.search // 2]:
        started = time.perf_counter()
        searcher.embedder.encode_queries([q], half=searcher.half_queries)
        embed_ms.append((time.perf_counter() - started) * 1000)
    for q in pool[:args.search]:
        started = time.perf_counter()
        searcher.search(q, k=5)
        cached_ms.append((time.perf_counter() - started) * 1000)
    print(json.dumps({"cold_start_s": round(cold, 2), "first_answer_found": first.found,
                      "search_ms": percentiles(search_ms), "ask_ms": percentiles(ask_ms),
                      "embed_ms": percentiles(embed_ms), "search_cached_ms": percentiles(cached_ms),
                      "peak_rss_mb": peak_rss_mb(), "passages": searcher.index.store.passage_count,
                      "vector_index": searcher.index.manifest["vector_index"]["kind"],
                      "loadavg_end": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
