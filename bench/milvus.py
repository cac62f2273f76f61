"""The Milvus backend beside the local one: quality parity, two serving processes on one
milvus-lite server, search latency by size. Writes bench/milvus.md and bench/milvus.json.

    python bench/milvus.py [--parts quality,serve,latency] [--questions 300] [--sizes 10000]

Every Milvus collection here is a copy of a local index (`wenda index --backend milvus
--from-index`, MilvusBuilder.copy_local): the same passages and the same vectors, so the figures
compare the backends and nothing else. The public sets' questions are sampled (--questions, seed
0) because a milvus-lite search costs tens of milliseconds more than a local one on 2 cores.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from common import ROOT, WORK, cache_dir, eval_file, find_eval_file, percentiles, stop_process, write_results

import load  # noqa: E402

from wenda.indexer.backends.milvus import MilvusStore, Target  # noqa: E402
from wenda.indexer.backends.milvus_build import MilvusBuilder  # noqa: E402
from wenda.indexer.build import IndexSettings, build_index  # noqa: E402
from wenda.search import Searcher  # noqa: E402
from wenda.search.evaluate import evaluate, load_questions, write_corpus  # noqa: E402
from wenda.search.milvus_index import MilvusIndex  # noqa: E402

OUT = WORK / "milvus"
CLI = [str(Path(sys.executable).parent / "wenda")]


def copy_into_milvus(index_dir: Path, target: Target) -> dict:
    shutil.rmtree(target.uri, ignore_errors=True)
    return MilvusBuilder(target, IndexSettings(), cache_dir()).copy_local(index_dir).as_dict()


def both(index_dir: Path, db: Path, embedder) -> tuple[Searcher, Searcher, dict]:
    target = Target(str(db))
    copied = copy_into_milvus(index_dir, target)
    local = Searcher.open(index_dir, cache_dir=cache_dir(), embedder=embedder)
    milvus = Searcher.over(MilvusIndex.open(target), cache_dir=cache_dir(), embedder=embedder)
    return local, milvus, copied


# -- quality -------------------------------------------------------------------------------------

def squad_parity(name: str, n_questions: int, embedder, sampled_corpus: bool = False) -> dict:
    """recall@1/5/10 of both backends on ``n_questions`` answerable questions of a SQuAD-format set;
    ``sampled_corpus``: index only the paragraphs of those questions (a smaller corpus to embed)."""
    path = eval_file(name)
    _, questions, corpus = load_questions(path)
    total = len(questions)
    if sampled_corpus:
        answerable = [q for q in questions if q.doc is not None and q.question.strip()]
        questions = random.Random(0).sample(answerable, min(n_questions, len(answerable)))
        corpus = {q.doc: corpus[q.doc] for q in questions}
    work = OUT / (Path(name).stem + ("-sampled" if sampled_corpus else ""))
    write_corpus(corpus, work / "corpus")
    t0 = time.perf_counter()
    build_index([work / "corpus"], work / "index", IndexSettings(), cache_dir(), embedder=embedder, wait=True)
    built_s = time.perf_counter() - t0
    local, milvus, copied = both(work / "index", work / "milvus.db", embedder)
    answerable = [q for q in questions if q.doc is not None and q.question.strip()]
    sample = sorted(random.Random(0).sample(answerable, min(n_questions, len(answerable))), key=lambda q: q.qid)
    out = {"file": str(path.relative_to(path.parents[1])), "paragraphs": len(corpus), "questions": total,
           "corpus": "the paragraphs of the sampled questions" if sampled_corpus else "every paragraph",
           "sampled": len(sample), "local_build_s": round(built_s, 1), "copy_s": copied["seconds"]}
    for label, searcher in (("local", local), ("milvus", milvus)):
        report = evaluate(searcher, sample, k=10, answers=False)
        out[label] = {"retrieval": report["retrieval"], "search_ms": report["search_ms"]}
    out["recall@1_difference"] = round(out["milvus"]["retrieval"]["recall@1"] - out["local"]["retrieval"]["recall@1"], 4)
    return out


def seeds_parity(embedder) -> dict:
    path = find_eval_file("seeds_qa.jsonl")
    if path is None:
        return {"skipped": "seeds_qa.jsonl not found"}
    work = OUT / "seeds"
    build_index([ROOT / "seeds"], work / "index", IndexSettings(), cache_dir(), embedder=embedder, wait=True)
    local, milvus, _ = both(work / "index", work / "milvus.db", embedder)
    _, questions, _ = load_questions(path)
    rows = []
    for q in questions:
        a, b = local.ask(q.question), milvus.ask(q.question)
        rows.append({"question": q.question, "same_top": a.passages[0].passage.passage_id == b.passages[0].passage.passage_id,
                     "same_answer": (a.found, a.answer) == (b.found, b.answer), "local": a.answer if a.found else None,
                     "milvus": b.answer if b.found else None})
    return {"questions": len(rows), "same_top_hit": sum(r["same_top"] for r in rows),
            "same_answer": sum(r["same_answer"] for r in rows), "differences": [r for r in rows if not r["same_answer"]]}


# -- two serving processes on one milvus-lite server ----------------------------------------------

@contextlib.contextmanager
def lite_server(data_dir: Path, log_path: Path):
    port = load.free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "milvus-lite"), "server", "--data-dir",
                                 str(data_dir), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                MilvusStore(Target(uri), timeout_s=2).close()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"milvus-lite server did not start:\n{log_path.read_text()}") from None
                time.sleep(0.5)
        yield uri
    finally:
        stop_process(proc)


def serve_two(seconds: float, clients: int, embedder) -> dict:
    work = OUT / "serve"
    shutil.rmtree(work, ignore_errors=True)
    corpus = work / "corpus"
    shutil.copytree(ROOT / "seeds", corpus)
    build_index([ROOT / "seeds"], OUT / "seeds" / "index", IndexSettings(), cache_dir(), embedder=embedder, wait=True)
    data = work / "data.db"
    env = {**os.environ, "WENDA_BACKEND": "milvus", "WENDA_CACHE": str(cache_dir()), "WENDA_THREADS": "1"}
    result: dict = {}
    with lite_server(data, work / "milvus-lite.log") as uri:
        target = Target(uri)         # copied through the server: its process holds the data folder
        MilvusBuilder(target, IndexSettings(), cache_dir()).copy_local(OUT / "seeds" / "index")
        store = MilvusStore(target)  # the copy's documents live in corpus/ (the same files as seeds/)
        store.load()
        meta = store.read_meta()
        meta.update(root=str(corpus), corpus=[str(corpus)])
        store.write_meta(meta)
        store.close()
        env["WENDA_MILVUS_URI"] = uri
        with load.server(CLI, work / "unused", env, work / "a.log") as (proc_a, a), \
                load.server(CLI, work / "unused", env, work / "b.log") as (proc_b, b):
            text = "量子通信\n\n嘉定区新建的量子通信试验网全长八十六公里，连接了十二个研究机构。\n"
            t0 = time.monotonic()
            r = httpx.post(f"{a}/api/documents", files={"file": ("quantum.txt", text.encode(), "text/plain")},
                           timeout=60, trust_env=False)
            r.raise_for_status()
            found_s = None
            while time.monotonic() - t0 < 120:
                hits = httpx.get(f"{b}/api/search", params={"q": "嘉定区量子通信试验网", "k": 3}, timeout=60,
                                 trust_env=False).json()["hits"]
                if any(h["source"] == "quantum.txt" for h in hits):
                    found_s = round(time.monotonic() - t0, 2)
                    break
                time.sleep(0.25)
            result["upload_through_a_found_by_b_s"] = found_s

            async def run() -> list[dict]:
                half = clients // 2
                return await asyncio.gather(load.run_load(a, half, seconds, proc_a.pid, seed=1),
                                            load.run_load(b, clients - half, seconds, proc_b.pid, seed=2))
            runs = asyncio.run(run())
            result["load"] = {"clients": clients, "seconds": seconds,
                              "requests": sum(x["requests"] for x in runs), "errors": sum(x["errors"] for x in runs),
                              "error_kinds": [x["error_kinds"] for x in runs],
                              "per_server": [{k: x[k] for k in ("clients", "requests", "errors", "requests_per_s",
                                                                "latency_ms")} for x in runs]}
    return result


# -- latency by size -------------------------------------------------------------------------------

def latency(sizes: list[int], n_queries: int, embedder) -> list[dict]:
    sys.path.insert(0, str(ROOT / "bench"))
    import synth
    from wenda.indexer.tokens import Analyzer

    analyzer = Analyzer()
    material = synth.material(analyzer)
    queries = load.QUERIES[:n_queries]
    rows = []
    for n in sizes:
        index_dir = synth.random_index(n, analyzer, material)
        local, milvus, copied = both(index_dir, OUT / f"latency-{n}.db", embedder)
        row = {"passages": n, "copy_s": copied["seconds"]}
        for label, searcher in (("local", local), ("milvus", milvus)):
            searcher.search(queries[0])                      # warm
            searcher.embed_queries(queries)                  # query vectors cached: the backends are timed
            times = []
            for q in queries:
                t0 = time.perf_counter()
                searcher.search(q, k=5)
                times.append((time.perf_counter() - t0) * 1000)
            row[label] = percentiles(times)
        rows.append(row)
    return rows


def markdown(r: dict) -> str:
    lines = ["Every Milvus collection is a copy of the local index (same passages, same vectors); milvus-lite "
             f"{r['versions']['milvus-lite']}, pymilvus {r['versions']['pymilvus']}. `lscpu`: {r['lscpu']}.", ""]
    if "quality" in r:
        q = r["quality"]
        lines += ["## Quality parity", "",
                  "| set | paragraphs indexed | questions sampled (seed 0) | recall@1 local | recall@1 milvus | difference | recall@5 local | recall@5 milvus |",
                  "|---|---|---|---|---|---|---|---|"]
        for s in q["sets"]:
            lines.append(f"| {s['file']} | {s['paragraphs']} ({s['corpus']}) | {s['sampled']} of {s['questions']} | "
                         f"{s['local']['retrieval']['recall@1']} | {s['milvus']['retrieval']['recall@1']} | "
                         f"{s['recall@1_difference']:+.4f} | {s['local']['retrieval']['recall@5']} | "
                         f"{s['milvus']['retrieval']['recall@5']} |")
        if any(x.get("corpus", "").startswith("the paragraphs") for x in q["sets"]):
            lines += ["", "DRCD's 1,000 paragraphs take too long to embed on this 2-core machine beside the other "
                          "runs: its questions are sampled (seed 0, from its 3,493) and only their paragraphs indexed, "
                          "the same corpus and questions for both backends."]
        sp = q["seeds"]
        if "questions" in sp:
            lines += ["", f"Seeds questions: same top hit {sp['same_top_hit']} of {sp['questions']}, same answer "
                          f"(found and text) {sp['same_answer']} of {sp['questions']}."]
            for d in sp["differences"]:
                lines.append(f"- {d['question']}: local {d['local']!r}, milvus {d['milvus']!r}")
        lines.append("")
    if "serve" in r:
        s = r["serve"]
        lines += ["## Two `wenda serve` on one `milvus-lite server`", "",
                  f"- A document uploaded through server A (`POST /api/documents`) was found by a search on server B "
                  f"after {s['upload_through_a_found_by_b_s']} s (target 10 s).",
                  f"- {s['load']['clients']} clients ({s['load']['clients'] // 2} per server, 30% ask) for "
                  f"{s['load']['seconds']:g} s: {s['load']['requests']} requests, {s['load']['errors']} errors."]
        for i, p in enumerate(s["load"]["per_server"]):
            lat = p["latency_ms"]["all"]
            lines.append(f"  - server {'AB'[i]}: {p['requests']} requests, {p['requests_per_s']} /s, "
                         f"p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms")
        lines.append("")
    if "latency" in r:
        lines += ["## Search latency by size (synthetic passages, random unit vectors: bench/synth.py)", "",
                  "Query vectors cached, so the figures are the backends' (retrieval, fusion, passages).", "",
                  "| passages | local p50 ms | local p99 ms | milvus-lite p50 ms | milvus-lite p99 ms | copy into Milvus s |",
                  "|---|---|---|---|---|---|"]
        for row in r["latency"]:
            lines.append(f"| {row['passages']} | {row['local']['p50']} | {row['local']['p99']} | "
                         f"{row['milvus']['p50']} | {row['milvus']['p99']} | {row['copy_s']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default="quality,serve,latency")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--latency-queries", type=int, default=200)
    args = parser.parse_args()
    from importlib.metadata import version

    from wenda.indexer.embed import Embedder

    OUT.mkdir(parents=True, exist_ok=True)
    embedder = Embedder.load(None, cache_dir())
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "?")
    cpus = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("CPU(s)")), "?")
    result: dict = {"versions": {"milvus-lite": version("milvus-lite"), "pymilvus": version("pymilvus")},
                    "lscpu": f"{model}, {cpus} CPUs"}
    parts = args.parts.split(",")
    if "quality" in parts:
        result["quality"] = {"sets": [squad_parity("cmrc2018_trial.json", args.questions, embedder),
                                      squad_parity("drcd_test.json", args.questions, embedder, sampled_corpus=True)],
                             "seeds": seeds_parity(embedder)}
    if "serve" in parts:
        result["serve"] = serve_two(args.seconds, args.clients, embedder)
    if "latency" in parts:
        result["latency"] = latency([int(s) for s in args.sizes.split(",")], args.latency_queries, embedder)
    previous = ROOT / "bench" / "milvus.json"
    if previous.exists():                 # parts not rerun keep their last figures (read now: runs of parts may overlap)
        old = json.loads(previous.read_text(encoding="utf-8"))
        result.update({k: old[k] for k in ("quality", "serve", "latency") if k in old and k not in parts})
    write_results("milvus", "The Milvus backend beside the local one", markdown(result), result)


if __name__ == "__main__":
    main()
