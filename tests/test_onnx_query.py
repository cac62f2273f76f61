"""Queries embedded through ONNX Runtime (indexer/onnx_query.py): the torch encoder's vectors,
the same rankings, a searcher that never imports torch (nor scikit-learn through lightgbm), and a
damaged graph exported again."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wenda.api.settings import Settings
from wenda.indexer import onnx_query
from wenda.indexer.bundled_model import ensure_bundled_model
from wenda.indexer.embed import Embedder
from wenda.indexer.errors import BadInput, ModelError
from wenda.search import Searcher, cross

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

# Written for these tests: the ways people type a question, a bare keyword, a long one, mixed scripts.
QUESTIONS = ["静安区的数据智能企业有多少家", "徐汇区 人工智能 企业数量", "浦东新区集成电路产业规模？",
             "哪个区的大模型企业最多", "AI 芯片 上海 国内领先", "数字经济", "上海市人工智能产业发展的主要政策有哪些，"
             "各区分别出台了什么样的支持措施来吸引企业落户？", "元宇宙产业园在哪里", "5G基站", "张江科学城"]


def _torch_queries(embedder: Embedder) -> Embedder:
    """The same model with its queries embedded by the plain-torch encoder (and so its answers
    checked by the torch cross-encoder, search/cross.py)."""
    torch_queries = Embedder(None, embedder.name, embedder.fingerprint, embedder._direct)
    torch_queries.folder = embedder.folder
    return torch_queries


def _seed_phrases() -> list[str]:
    lines = [line.strip() for p in sorted(SEEDS.iterdir()) for line in p.read_text(encoding="utf-8").splitlines()]
    return [line[:24] for line in lines if len(line) >= 8][:120]


@pytest.mark.slow
def test_onnx_queries_are_the_torch_encoders_vectors(embedder):
    assert embedder.query_engine == "onnx"
    by_torch = _torch_queries(embedder)
    texts = QUESTIONS + _seed_phrases()
    batched = embedder.encode_queries(texts, batch_size=16)      # padded batches
    single = np.vstack([embedder.encode_queries([t]) for t in texts[:40]])
    reference = by_torch.encode_queries(texts, batch_size=16)
    assert batched.dtype == np.float32 and batched.shape == reference.shape
    assert (batched * reference).sum(axis=1).min() > 0.99999
    assert (single * reference[:40]).sum(axis=1).min() > 0.99999
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    # passages are still embedded by torch (to float rounding: the thread count, one or two by the
    # machine's load, changes the order of its sums)
    passages = _seed_phrases()[:8]
    np.testing.assert_allclose(embedder.encode_documents(passages), by_torch.encode_documents(passages), atol=2e-6)


@pytest.mark.slow
def test_either_engine_ranks_the_same_passages(seeds_index, cache_dir, embedder):
    onnx = Searcher.open(seeds_index, cache_dir=cache_dir, embedder=embedder)
    torch = Searcher.open(seeds_index, cache_dir=cache_dir, embedder=_torch_queries(embedder))
    for question in QUESTIONS:
        a, b = onnx.search(question, k=5), torch.search(question, k=5)
        assert [h.passage.passage_id for h in a.hits] == [h.passage.passage_id for h in b.hits], question
        assert a.hits[0].scores.dense == pytest.approx(b.hits[0].scores.dense, abs=1e-5)
        assert onnx.ask(question).answer == torch.ask(question).answer


@pytest.mark.slow
def test_a_searcher_answers_without_importing_torch_or_scikit_learn(seeds_index, cache_dir, embedder):
    assert onnx_query.graph_path(cache_dir, embedder.fingerprint).is_file()   # exported when the model loaded
    cross.scorer(embedder.folder, cache_dir, embedder.fingerprint)    # the answer check's, at any earlier ask
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from wenda.search import Searcher\n"
        f"s = Searcher.open(Path({str(seeds_index)!r}), cache_dir=Path({str(cache_dir)!r}))\n"
        "hits = s.search('静安区的数据智能企业有多少家').hits\n"
        "answer = s.ask('静安区的数据智能企业有多少家')\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'engine': s.embedder.query_engine,\n"
        "                  'sklearn': 'sklearn' in sys.modules, 'pandas': 'pandas' in sys.modules,\n"
        "                  'top': hits[0].passage.passage_id, 'found': answer.found}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # torch, and the scikit-learn and pandas that lightgbm would import, are seconds of a cold start
    assert seen == {"torch": False, "sklearn": False, "pandas": False, "engine": "onnx", "found": True,
                    "top": seen["top"]}


@pytest.mark.slow
def test_a_damaged_graph_is_exported_again(tmp_path, cache_dir, caplog, monkeypatch):
    bundled_model_dir = ensure_bundled_model(cache_dir)
    graph = onnx_query.ensure_graph(bundled_model_dir, tmp_path, "0123456789abcdef")
    want = json.loads(graph.with_suffix(".json").read_text())
    with graph.open("r+b") as fh:                       # one flipped byte inside the weights
        fh.seek(want["size"] // 2)
        byte = fh.read(1)
        fh.seek(want["size"] // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with caplog.at_level(logging.WARNING, logger="wenda.onnx_query"):
        again = onnx_query.ensure_graph(bundled_model_dir, tmp_path, "0123456789abcdef")
    assert any("sha256 mismatch" in r.getMessage() for r in caplog.records)
    assert onnx_query._sha256(again) == want["sha256"]    # the export is deterministic
    assert not [p for p in graph.parent.iterdir() if p.name.startswith(".")]   # no temporary files left

    # a later process finds the graph's fingerprint as recorded at its export: no sha256 at all
    hashed = []
    monkeypatch.setattr(onnx_query, "_verified", {})
    monkeypatch.setattr(onnx_query, "_sha256", lambda path: hashed.append(path) or "")
    assert onnx_query._check(graph) is None and hashed == []


def test_auto_falls_back_to_torch_when_the_graph_cannot_be_made(monkeypatch, tmp_path, cache_dir, caplog):
    from wenda.indexer import embed

    def broken(folder, dest):
        raise RuntimeError("simulated: the exporter is missing a module")

    monkeypatch.setattr(onnx_query, "export_layers", broken)
    folder = ensure_bundled_model(cache_dir)
    with caplog.at_level(logging.WARNING, logger="wenda.embed"):
        assert embed._query_encoder(folder, tmp_path, "0123456789abcdef", "auto", None) is None
    assert any("queries are embedded by torch" in r.getMessage() and "simulated" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(ModelError, match="simulated"):
        embed._query_encoder(folder, tmp_path, "0123456789abcdef", "onnx", None)
    assert embed._query_encoder(folder, tmp_path, "0123456789abcdef", "torch", None) is None


def test_the_query_engine_setting_is_checked():
    assert Settings.from_env({"WENDA_QUERY_ENGINE": " Torch "}).query_engine == "torch"
    assert Settings().query_engine == "auto"
    with pytest.raises(BadInput, match="WENDA_QUERY_ENGINE must be one of auto, onnx, torch"):
        Settings.from_env({"WENDA_QUERY_ENGINE": "tensorrt"})
