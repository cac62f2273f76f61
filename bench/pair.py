"""This tree against another commit on the same indexes, processes alternating: the before/after
of a change to the query path (search, ask, query embedding, cold start).

    python bench/pair.py [--commit 42a2e64] [--sizes seeds,100000,1000000] [--rounds 3]

The other commit runs from a `git worktree` in bench/tmp/tree-<commit>, its wenda.* packages put
first on PYTHONPATH through bench/tmp/shim-<commit>/wenda (links to its indexer/, search/, api/),
so both trees run this tree's bench/scale_worker.py over the very same index folders: the seeds
index and bench/synth.py's synthetic corpora (built once, cached in bench/tmp/synth). Each round
runs the other commit, then this tree, for every size; the workers cache bytecode as `make` runs
them (the first round compiles it). Reports the median over rounds of each
figure and writes bench/pair.md and .json. (bench/baseline.py does the same for a commit from
before the wenda.* namespace, whose own benchmark scripts build its own indexes.)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import BENCH, ROOT, WORK, machine, seeds_index, write_results

import synth  # noqa: E402

from wenda.indexer.tokens import Analyzer  # noqa: E402

FIGURES = [("cold start s", "cold_start_s", None), ("search p50", "search_ms", "p50"), ("search p99", "search_ms", "p99"),
           ("ask p50", "ask_ms", "p50"), ("ask p99", "ask_ms", "p99"), ("query embedding p50", "embed_ms", "p50"),
           ("search, vector cached, p50", "search_cached_ms", "p50"),
           ("search, vector cached, p99", "search_cached_ms", "p99")]


def shim(commit: str) -> Path:
    """A folder whose wenda/ is ``commit``'s packages (its worktree made when missing)."""
    tree = WORK / f"tree-{commit}"
    if not (tree / "search").is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                       capture_output=True)
    folder = WORK / f"shim-{commit}" / "wenda"
    folder.mkdir(parents=True, exist_ok=True)
    for package in ("indexer", "search", "api"):
        link = folder / package
        if not link.exists():
            link.symlink_to(tree / package)
    return folder.parent


def worker(index: Path, pythonpath: Path | None) -> dict:
    env = {**os.environ, "WENDA_T0": repr(time.time())}
    env.pop("PYTHONPATH", None)
    # bytecode cached as under make (Makefile): otherwise every cold start compiles every module
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(WORK / "pycache"))
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    out = subprocess.run([sys.executable, str(BENCH / "scale_worker.py"), str(index)], env=env, cwd=BENCH,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def value(run: dict, key: str, part: str | None) -> float:
    return run[key] if part is None else run[key][part]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", default="42a2e64")
    ap.add_argument("--sizes", default="seeds,100000,1000000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    other = shim(args.commit)
    analyzer, material = Analyzer(), None
    indexes = {}
    for size in args.sizes.split(","):
        if size == "seeds":
            indexes[size] = seeds_index()
        else:
            material = material or synth.material(analyzer)
            indexes[size] = synth.random_index(int(size), analyzer, material)
    runs: dict[str, dict[str, list[dict]]] = {size: {"before": [], "after": []} for size in indexes}
    started = time.time()
    for _ in range(args.rounds):
        for size, index in indexes.items():
            runs[size]["before"].append(worker(index, other))
            runs[size]["after"].append(worker(index, None))
    lines = [f"Before: commit {args.commit}; after: this tree. {args.rounds} rounds, each the other commit's "
             "process then this tree's on the same index; medians over rounds (ms unless marked). "
             f"{time.time() - started:.0f} s in all, 1-minute load {os.getloadavg()[0]:.2f} at the end.", "",
             "| passages | figure | before | after | after / before |", "|---|---|---|---|---|"]
    summary = {}
    for size, pair in runs.items():
        summary[size] = {}
        for label, key, part in FIGURES:
            b = statistics.median(value(r, key, part) for r in pair["before"])
            a = statistics.median(value(r, key, part) for r in pair["after"])
            summary[size][label] = {"before": b, "after": a}
            lines.append(f"| {size} | {label} | {b:.2f} | {a:.2f} | {a / b:.2f}x |")
    write_results("pair", f"Query path, this tree against {args.commit}", "\n".join(lines),
                  {"commit": args.commit, "summary": summary, "runs": runs, "machine": machine()})


if __name__ == "__main__":
    main()
