"""Issue 19, items 4 and 5: what embeds a query (and could embed passages) on this CPU.

    python bench/query_engine.py [--parts latency,passages,cold,search,quality] [--rounds 3]

- latency: one query at a time (seeds and CMRC trial questions, ~15 tokens), each engine in its
  own process, rounds interleaved: the plain-torch encoder (threads by load, as wenda runs it) and
  ONNX Runtime (indexer/onnx_query.py), with the machine as it is and with the other core kept busy.
- passages: passages/s of batches of 32 (seeds passages and CMRC paragraphs) through torch,
  ONNX Runtime and, where installed, OpenVINO on the same exported graph.
- cold: process start to the first answer on the seeds index, WENDA_QUERY_ENGINE torch vs onnx.
- search: search/ask p50/p99 on the 10^5 synthetic index (bench/synth.py), both engines.
- quality: recall@1/5 of every answerable question of the CMRC 2018 trial, the DRCD test paragraphs
  of 300 sampled questions and seeds_qa, queries embedded by each engine over the same index.
Writes bench/query_engine.md and .json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import BENCH, ROOT, WORK, cache_dir, eval_file, percentiles, seeds_index, write_results

PY = sys.executable
ENGINES = ("torch", "onnx")


def questions() -> list[str]:
    sys.path.insert(0, str(BENCH))
    from scale_worker import questions as all_questions

    return all_questions()


# -- one engine in its own process ----------------------------------------------------------------

def worker(part: str, engine: str, n: int) -> dict:
    from wenda.indexer.embed import Embedder

    if part == "latency":
        embedder = Embedder.load(None, cache_dir(), query_engine=engine)
        qs = questions()[:n]
        for q in qs[:5]:
            embedder.encode_queries([q])
        ms = []
        for q in qs:
            started = time.perf_counter()
            embedder.encode_queries([q])
            ms.append((time.perf_counter() - started) * 1000)
        return {"ms": percentiles(ms), "queries": len(qs)}
    texts = passages()[:n]
    from wenda.indexer import onnx_query, xlmr
    from wenda.indexer.bundled_model import ensure_bundled_model
    from wenda.indexer.embed import length_batches

    folder = ensure_bundled_model(cache_dir())
    tokenizer = xlmr.load_tokenizer(folder / "tokenizer.json", 512)
    config = xlmr.Config.read(folder)
    if engine == "torch":
        embedder = Embedder.load(None, cache_dir(), threads=2, query_engine="torch")
        encode = embedder._direct.encode
    else:
        embedder = Embedder.load(None, cache_dir(), query_engine="onnx")
        graph = onnx_query.graph_path(cache_dir(), embedder.fingerprint)
        ort_encoder = onnx_query.OnnxQueryEncoder(folder, graph, tokenizer, config.pad_id, config.eps)
        if engine == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 2
            ort_encoder._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
            encode = ort_encoder.encode
        else:                                      # openvino on the same graph and embeddings
            import openvino as ov

            request = ov.Core().compile_model(str(graph), "CPU", {"INFERENCE_NUM_THREADS": 2}).create_infer_request()

            def encode(batch: list[str]) -> np.ndarray:
                enc = tokenizer.encode_batch(batch)
                width = max(len(e.ids) for e in enc)
                ids = np.full((len(enc), width), config.pad_id, np.int64)
                mask = np.zeros((len(enc), width), np.int64)
                for row, e in enumerate(enc):
                    ids[row, :len(e.ids)], mask[row, :len(e.ids)] = e.ids, 1
                pooled = next(iter(request.infer({"tokens": ort_encoder._embed(ids), "mask": mask}).values()))
                return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    batches = length_batches([min(x, 512) for x in lengths], 32)
    encode(["passage: " + texts[0]])
    started = time.perf_counter()
    vecs = np.empty((len(texts), config.hidden), np.float32)
    for idx in batches:
        vecs[idx] = encode(["passage: " + texts[i] for i in idx])
    seconds = time.perf_counter() - started
    reference = embedder._direct.encode(["passage: " + t for t in texts[:64]])
    return {"passages_per_s": round(len(texts) / seconds, 2), "passages": len(texts),
            "mean_tokens": round(float(np.mean(lengths)), 1),
            "min_cosine_to_torch": round(float((vecs[:64] * reference).sum(axis=1).min()), 7)}


def passages() -> list[str]:
    seeds = [line.strip() for p in sorted((ROOT / "seeds").iterdir())
             for line in p.read_text(encoding="utf-8").splitlines() if len(line.strip()) >= 20]
    data = json.loads(eval_file("cmrc2018_trial.json").read_text("utf-8"))["data"]
    cmrc = [p["context"] for a in data for p in a["paragraphs"]]
    return seeds + cmrc[:96]


def in_process(part: str, engine: str, n: int, busy: bool = False) -> dict:
    hog = subprocess.Popen([PY, "-c", "while True: pass"]) if busy else None
    try:
        out = subprocess.run([PY, __file__, "--worker", part, engine, str(n)], capture_output=True, text=True,
                             check=True, cwd=BENCH).stdout
    finally:
        if hog:
            hog.kill()
            hog.wait()
    return json.loads(out.strip().splitlines()[-1])


# -- parts ----------------------------------------------------------------------------------------

def latency(rounds: int) -> dict:
    out = {}
    for condition in ("as is", "other core busy"):
        runs = {e: [] for e in ENGINES}
        for _ in range(rounds):
            for engine in ENGINES:
                runs[engine].append(in_process("latency", engine, 150, busy=condition != "as is"))
        out[condition] = {e: {"p50_ms": float(np.median([r["ms"]["p50"] for r in rs])),
                              "p99_ms": float(np.median([r["ms"]["p99"] for r in rs])), "runs": rs}
                          for e, rs in runs.items()}
    return out


def passage_throughput(rounds: int) -> dict:
    engines = ["torch", "onnx"]
    try:
        import openvino  # noqa: F401
        engines.append("openvino")
    except ImportError:
        pass
    runs = {e: [] for e in engines}
    for _ in range(rounds):
        for engine in engines:
            runs[engine].append(in_process("passages", engine, 400))
    return {e: {"passages_per_s": float(np.median([r["passages_per_s"] for r in rs])), "runs": rs}
            for e, rs in runs.items()}


def scale_worker(index: Path, engine: str, *args: str) -> dict:
    env = {**os.environ, "WENDA_T0": repr(time.time())}
    out = subprocess.run([PY, str(BENCH / "scale_worker.py"), str(index), "--query-engine", engine, *args],
                         env=env, cwd=BENCH, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cold(rounds: int) -> dict:
    index = seeds_index()
    runs = {e: [] for e in ENGINES}
    for _ in range(rounds):
        for engine in ENGINES:
            runs[engine].append(scale_worker(index, engine, "--search", "0", "--ask", "0")["cold_start_s"])
    return {e: {"median_s": float(np.median(v)), "runs": v} for e, v in runs.items()}


def search(rounds: int) -> dict:
    import synth

    index = synth.SYNTH / f"n100000-v{synth.VERSION}-random-t200000-fp16"
    if not (index / "CURRENT").exists():
        return {"skipped": f"{index} not built (python bench/synth.py 100000)"}
    runs = {e: [] for e in ENGINES}
    for r in range(rounds):
        for engine in ENGINES:
            runs[engine].append(scale_worker(index, engine, "--search", "200", "--ask", "100", "--offset", str(300 * r)))
    pick = ("search_ms", "ask_ms", "embed_ms", "cold_start_s", "peak_rss_mb")
    return {e: {"runs": [{k: r[k] for k in pick} for r in rs],
                "search_p50": float(np.median([r["search_ms"]["p50"] for r in rs])),
                "search_p99": float(np.median([r["search_ms"]["p99"] for r in rs])),
                "ask_p50": float(np.median([r["ask_ms"]["p50"] for r in rs])),
                "embed_p50": float(np.median([r["embed_ms"]["p50"] for r in rs]))} for e, rs in runs.items()}


def quality() -> dict:
    from wenda.indexer.build import IndexSettings, build_index
    from wenda.indexer.embed import Embedder
    from wenda.search import Searcher
    from wenda.search.evaluate import evaluate, load_questions, write_corpus

    onnx = Embedder.load(None, cache_dir(), query_engine="onnx")
    torch_ = Embedder(None, onnx.name, onnx.fingerprint, onnx._direct)      # the same model, torch queries
    out = {}
    for name, sample in (("cmrc2018_trial.json", None), ("drcd_test.json", 300), ("seeds_qa.jsonl", None)):
        _, qs, corpus = load_questions(eval_file(name))
        answerable = [q for q in qs if q.doc is not None and q.question.strip()] if corpus else list(qs)
        if sample:
            answerable = random.Random(0).sample(answerable, sample)
            corpus = {q.doc: corpus[q.doc] for q in answerable}
        work = WORK / "query_engine" / Path(name).stem
        if corpus is not None:
            write_corpus(corpus, work / "corpus")
            build_index([work / "corpus"], work / "index", IndexSettings(), cache_dir(), embedder=onnx, wait=True)
        else:
            build_index([ROOT / "seeds"], work / "index", IndexSettings(), cache_dir(), embedder=onnx, wait=True)
        row = {"questions": len(answerable)}
        tops = {}
        for label, embedder in (("torch", torch_), ("onnx", onnx)):
            searcher = Searcher.open(work / "index", cache_dir=cache_dir(), embedder=embedder)
            row[label] = evaluate(searcher, answerable, k=10, answers=False)["retrieval"]
            tops[label] = [searcher.search(q.question, k=1).hits[0].passage.passage_id
                           if searcher.search(q.question, k=1).hits else None for q in answerable]
        row["same_top_hit"] = sum(a == b for a, b in zip(tops["torch"], tops["onnx"]))
        row["recall@1_difference"] = round(row["onnx"]["recall@1"] - row["torch"]["recall@1"], 4)
        out[name] = row
        print(name, json.dumps(row), flush=True)
    return out


# -- report ---------------------------------------------------------------------------------------

def _table(title: str, header: list[str], rows: list[list]) -> list[str]:
    return [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows), ""]


def markdown(res: dict) -> str:
    lines = [f"1-minute load average {res['load_start']} at the start, {res['load_end']} at the end "
             "(2.0 = both cores busy); every figure is the median of the rounds, and each engine ran in its own "
             "process, rounds interleaved.", ""]
    if "latency" in res:
        lines += _table("One query's embedding (item 5)",
                        ["machine", "torch p50 / p99 ms", "ONNX Runtime p50 / p99 ms", "ONNX / torch (p50)"],
                        [[c, f"{r['torch']['p50_ms']:.2f} / {r['torch']['p99_ms']:.2f}",
                          f"{r['onnx']['p50_ms']:.2f} / {r['onnx']['p99_ms']:.2f}",
                          f"{r['onnx']['p50_ms'] / r['torch']['p50_ms']:.2f}x"] for c, r in res["latency"].items()])
    if "search" in res and "skipped" not in res["search"]:
        lines += _table("Search and ask at 10^5 passages (synthetic, float16 exhaustive vectors)",
                        ["query engine", "search p50 / p99 ms", "ask p50 ms", "query embedding p50 ms"],
                        [[e, f"{r['search_p50']:.2f} / {r['search_p99']:.2f}", f"{r['ask_p50']:.2f}", f"{r['embed_p50']:.2f}"]
                         for e, r in res["search"].items()])
    if "cold" in res:
        lines += _table("Cold start on the seeds index (process start to the first answer)",
                        ["query engine", "median s", "runs"],
                        [[e, f"{r['median_s']:.2f}", ", ".join(str(x) for x in r["runs"])] for e, r in res["cold"].items()])
    if "passages" in res:
        lines += _table("Passages per second, batches of 32 (item 4)", ["engine", "passages/s", "min cosine to torch"],
                        [[e, f"{r['passages_per_s']:.2f}", r["runs"][0]["min_cosine_to_torch"]]
                         for e, r in res["passages"].items()])
    if "quality" in res:
        lines += _table("Retrieval with queries embedded by each engine (same index)",
                        ["set", "questions", "recall@1 torch", "recall@1 ONNX", "difference", "recall@5 torch",
                         "recall@5 ONNX", "same top hit"],
                        [[n, r["questions"], r["torch"]["recall@1"], r["onnx"]["recall@1"], f"{r['recall@1_difference']:+.4f}",
                          r["torch"]["recall@5"], r["onnx"]["recall@5"], f"{r['same_top_hit']} of {r['questions']}"]
                         for n, r in res["quality"].items()])
    return "\n".join(lines) + res.get("notes", "")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="latency,passages,cold,search,quality")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    parts = args.parts.split(",")
    path = BENCH / "query_engine.json"
    res = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    res.update({"load_start": round(os.getloadavg()[0], 2)})
    steps = {"latency": lambda: latency(args.rounds), "passages": lambda: passage_throughput(args.rounds),
             "cold": lambda: cold(args.rounds), "search": lambda: search(args.rounds), "quality": quality}
    for part in parts:
        print(part, flush=True)
        res[part] = steps[part]()
    res["load_end"] = round(os.getloadavg()[0], 2)
    write_results("query_engine", "Query embedding: ONNX Runtime beside the plain-torch encoder", markdown(res), res)


if __name__ == "__main__":
    main()
