"""Would int8 do? Retrieval quality with the bundled model under torch dynamic int8 quantisation
(every Linear layer, per-tensor and per-channel weights) against float32, on both public sets.

Each index (built by bench/eval.py in bench/tmp) has its passages re-embedded by the int8 model,
and its questions embedded by it too; the same store, lexical side and fusion. Reported: recall@1,
recall@5 and MRR@10 of the hybrid search users get, and of the vectors alone (fusion weight 1 on
the dense score). The issue's bar for offering int8: within one point of float32's recall@1.
Throughput of the same variants is in bench/embed_throughput.md.

    python bench/int8.py
"""
from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np

from common import WORK, cache_dir, eval_file, write_results

from wenda.indexer import vectors  # noqa: E402
from wenda.indexer.build import embedding_text  # noqa: E402
from wenda.indexer.embed import Embedder  # noqa: E402
from wenda.search.evaluate import evaluate, load_questions  # noqa: E402
from wenda.search.fusion import FusionParams  # noqa: E402
from wenda.search.open_index import LoadedIndex  # noqa: E402
from wenda.search.searcher import Searcher  # noqa: E402

SETS = {"seeds_qa.jsonl": "idx-seeds", "cmrc2018_trial.json": "idx-cmrc"}
DENSE_ONLY = FusionParams(dense=1.0, words=0.0, grams=0.0)


def int8_variant(base: Embedder, per_channel: bool) -> Embedder:
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    st = copy.deepcopy(base._model)          # the sentence-transformers model (float32)
    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    torch.ao.quantization.quantize_dynamic(st[0].auto_model, {torch.nn.Linear: qconfig},
                                           dtype=torch.qint8, inplace=True)
    return Embedder(st, base.name, base.fingerprint)


def reembedded(index: LoadedIndex, embedder: Embedder) -> tuple[LoadedIndex, float]:
    ids = sorted(index.store.all_rowids())
    stored = index.store.passages_by_rowid(ids)
    context = index.manifest["chunking"].get("embed_context", True)
    started = time.perf_counter()
    vecs = embedder.encode_documents([embedding_text(stored[i].passage, context) for i in ids])
    rate = len(ids) / (time.perf_counter() - started)
    fresh = vectors.build(np.array(ids, dtype=np.int64), vecs, vecs.shape[1])
    return dataclasses.replace(index, vectors=fresh), rate


def figures(searcher: Searcher, questions) -> dict:
    r = evaluate(searcher, questions, answers=False)["retrieval"]
    return {"recall@1": round(r["recall@1"], 4), "recall@5": round(r["recall@5"], 4), "mrr@10": round(r["mrr@10"], 4)}


def main() -> None:
    base = Embedder.load(None, cache_dir())
    variants = {"float32": base, "int8 per-tensor": int8_variant(base, False),
                "int8 per-channel": int8_variant(base, True)}
    rows = []
    for name, folder in SETS.items():
        _, questions, _ = load_questions(eval_file(name))
        index = LoadedIndex.open(WORK / folder)
        for variant, embedder in variants.items():
            loaded, rate = (index, None) if variant == "float32" else reembedded(index, embedder)
            row = {"set": name, "model": variant, "passages_per_s": None if rate is None else round(rate, 2)}
            row["hybrid"] = figures(Searcher(loaded, embedder), questions)
            row["dense"] = figures(Searcher(loaded, embedder, DENSE_ONLY), questions)
            rows.append(row)
            print(row, flush=True)
    md = ["| set | model | hybrid recall@1 | recall@5 | MRR@10 | vectors alone recall@1 | recall@5 | MRR@10 |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        h, d = r["hybrid"], r["dense"]
        md.append(f"| {r['set']} | {r['model']} | {h['recall@1']} | {h['recall@5']} | {h['mrr@10']} | "
                  f"{d['recall@1']} | {d['recall@5']} | {d['mrr@10']} |")
    md.append("\nPassages and questions both embedded by the model of the row; everything else (store, "
              "lexical views, fusion) is the index's. int8 = torch.ao dynamic quantisation of every Linear "
              "layer (activations quantised per batch).")
    write_results("int8", "int8 quantisation: retrieval quality against float32", "\n".join(md), {"rows": rows})


if __name__ == "__main__":
    main()
