"""What the learned ranker adds to a search: the same queries with and without it, one process.

    python bench/ranking_speed.py [--passages 100000] [--queries 300] [--rounds 3] [--embed]

Index: the synthetic corpus of bench/synth.py at --passages (random unit vectors, the vector index
wenda builds at that size; built once into bench/tmp/synth/), or the seeds (--passages 0).
Queries: the seeds and CMRC 2018 trial questions. Each round searches every query (k=5) once
without the ranker and once with it, alternating, after one warm-up pass. Query vectors stay cached
(both sides time the same embedding work: none), or with --embed each search embeds its query, as
a new query does. Prints p50/p95/p99 per side and their ratios; writes bench/ranking_speed.md and
.json (--embed: ranking_speed_embed.*).
"""
from __future__ import annotations

import argparse
import time

from common import ROOT, cache_dir, eval_file, percentiles, write_results

from wenda.indexer.tokens import Analyzer
from wenda.search.evaluate import load_questions
from wenda.search.rank_model import bundled_ranker
from wenda.search.searcher import Searcher


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--embed", action="store_true", help="embed every query (no query-vector cache)")
    args = ap.parse_args()
    if args.passages:
        import synth

        analyzer = Analyzer()
        index = synth.random_index(args.passages, analyzer, synth.material(analyzer))
        where = f"synthetic, {args.passages:,} passages (bench/synth.py, random vectors)"
    else:
        from wenda.indexer.build import IndexSettings, build_index
        from common import WORK

        index = WORK / "idx-seeds-ranking"
        build_index([ROOT / "seeds"], index, IndexSettings(), cache_dir())
        where = "the seeds"
    queries = [q.question for name in ("seeds_qa.jsonl", "cmrc2018_trial.json")
               for q in load_questions(eval_file(name))[1] if q.question.strip()][: args.queries]
    searcher = Searcher.open(index, cache_dir=cache_dir(), ranker=None)
    ranker = bundled_ranker()
    if ranker is None:
        raise SystemExit("bench: no ranker is shipped (search/data/rank_model.txt); see bench/train_ranking.py")
    for q in queries:                        # warm-up: query vectors cached, pages in memory
        searcher.search(q)
    timings: dict[str, list[float]] = {"fusion": [], "ranker": []}
    for _ in range(args.rounds):
        for q in queries:
            for side in ("fusion", "ranker"):
                searcher.ranker = ranker if side == "ranker" else None
                if args.embed:
                    searcher._query_cache.clear()
                t0 = time.perf_counter()
                searcher.search(q, k=5)
                timings[side].append((time.perf_counter() - t0) * 1000)
    keys = ("p50", "p95", "p99", "mean")
    stats = {side: {k: percentiles(ms)[k] for k in keys} for side, ms in timings.items()}
    ratio = {k: round(stats["ranker"][k] / stats["fusion"][k], 3) for k in keys}
    embedding = ("every search embeds its query (no cache)" if args.embed else
                 "query vectors cached after a warm-up pass, so the embedding is not in either side's time")
    body = [f"Index: {where}. {len(queries)} queries x {args.rounds} rounds per side, alternating; {embedding}.", "",
            "| side | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for side, row in stats.items():
        body.append(f"| {side} | " + " | ".join(f"{v:.2f} ms" for v in row.values()) + " |")
    body.append("| ratio | " + " | ".join(f"{v:.3f}" for v in ratio.values()) + " |")
    write_results("ranking_speed_embed" if args.embed else "ranking_speed", "Search time with and without the learned ranker", "\n".join(body),
                  {"index": where, "queries": len(queries), "rounds": args.rounds, "ms": stats, "ratio": ratio})


if __name__ == "__main__":
    main()
