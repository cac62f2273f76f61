"""The Milvus backend against a real milvus-lite (and, with WENDA_TEST_MILVUS_URI, a real Milvus
server: the ``milvus_server`` parameter of every test here), no mocks.

The seeds collection is made once per session by copying the session's local seeds index (its
stored vectors, so nothing is embedded again); the tests that change a collection build their
own small ones.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")

from wenda.indexer.backends.milvus import MilvusStore, Target  # noqa: E402
from wenda.indexer.backends.milvus_build import MilvusBuilder  # noqa: E402
from wenda.indexer.build import IndexSettings  # noqa: E402
from wenda.indexer.errors import BackendUnavailable, BadInput, IndexMismatch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED_QUESTIONS = ROOT.parent / "shared" / "eval" / "seeds_qa.jsonl"
OWN_QUESTIONS = ["静安区的数据智能企业有多少家？", "普陀区开通了多少个5G基站？", "徐汇区人工智能发展", "数字经济新赛道在哪里举行？"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", params=["lite", pytest.param("server", marks=pytest.mark.milvus_server)])
def milvus_place(request, tmp_path_factory):
    """Where the tests' collections go: a function (name) -> Target."""
    if request.param == "server":
        uri = os.environ.get("WENDA_TEST_MILVUS_URI")
        if not uri:
            pytest.skip("WENDA_TEST_MILVUS_URI is not set (a Milvus Standalone, e.g. http://127.0.0.1:19530)")
        run = secrets.token_hex(3)
        token = os.environ.get("WENDA_TEST_MILVUS_TOKEN")
        return lambda name: Target(uri, f"t{run}_{name}", token)
    base = tmp_path_factory.mktemp("milvus")
    # milvus-lite: one process per data folder, so each collection gets its own folder
    return lambda name: Target(str(base / f"{name}.db"), "wenda")


@pytest.fixture(scope="session")
def seeds_target(milvus_place, seeds_index, cache_dir):
    target = milvus_place("seeds")
    report = MilvusBuilder(target, IndexSettings(), cache_dir).copy_local(seeds_index)
    assert report.embedded == 0 and report.documents == 5
    return target


@pytest.fixture(scope="session")
def milvus_searcher(seeds_target, embedder, cache_dir):
    from wenda.search import Searcher
    from wenda.search.milvus_index import MilvusIndex

    return Searcher.over(MilvusIndex.open(seeds_target), cache_dir=cache_dir, embedder=embedder)


def _questions() -> list[str]:
    if SHARED_QUESTIONS.exists():       # the shared evaluation set, read where it lies, never copied here
        return [json.loads(line)["question"] for line in SHARED_QUESTIONS.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    return OWN_QUESTIONS


def test_same_hits_and_answers_as_local(milvus_searcher, searcher):
    questions = _questions()
    local = searcher.ask_batch(questions)
    milvus = milvus_searcher.ask_batch(questions)
    top_same = sum(a.passages[0].passage.passage_id == b.passages[0].passage.passage_id for a, b in zip(local, milvus))
    assert top_same >= len(questions) - 1, [(a.question, a.passages[0].passage.passage_id,
                                             b.passages[0].passage.passage_id) for a, b in zip(local, milvus)]
    # Milvus's BM25 (its own IDF, its jieba over whole texts) reorders the lower hits a little, and
    # with them, rarely, the passages an answer is chosen from: at most one question of the set
    differ = [a.question for a, b in zip(local, milvus) if (a.found, a.answer) != (b.found, b.answer)]
    assert len(differ) <= 1, differ
    for answer in milvus:                 # citations quote the file exactly
        for hit in answer.citations + answer.passages:
            d = hit.to_dict()
            text = (SEEDS / d["source"]).read_text(encoding="utf-8")
            assert text[d["start"]:d["end"]] == d["text"]


def test_doc_filter_documents_and_passages(milvus_searcher, searcher):
    source = searcher.documents()[1]["source"]
    hits = milvus_searcher.search("数字经济", k=5, doc=source[:4] + "*").hits
    assert hits and {h.passage.source for h in hits} == {source}
    assert hits[0].passage.passage_id == searcher.search("数字经济", k=5, doc=source[:4] + "*").hits[0].passage.passage_id
    with pytest.raises(BadInput, match="no indexed document"):
        milvus_searcher.search("数字经济", doc="nothing-*")
    assert milvus_searcher.documents() == searcher.documents()
    meta, text, passages = milvus_searcher.document(source)
    assert text == (SEEDS / source).read_text(encoding="utf-8") and len(passages) == meta["passages"]
    middle = passages[3].passage.passage_id
    assert [sp.passage.paragraph for sp in milvus_searcher.passage(middle, context=1)] == [3, 4, 5]


def test_info_command(seeds_target, capsys):
    from wenda.api.cli import main

    args = ["info", "--json", "--backend", "milvus", "--milvus-uri", seeds_target.uri, "--collection",
            seeds_target.collection]
    assert main(args) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["backend"], info["documents"], info["passages"]) == ("milvus", 5, info["passages"] or -1)


def test_http_and_mcp_tools_over_milvus(milvus_searcher):
    from fastapi.testclient import TestClient

    from wenda.api.server import create_app
    from wenda.api.settings import Settings
    from wenda.api.tools import call_tool

    settings = Settings.from_env({}, backend="milvus", milvus_uri="unused")
    with TestClient(create_app(settings, searcher=milvus_searcher), base_url="http://127.0.0.1") as client:
        found = client.get("/api/search", params={"q": "普陀区5G基站", "k": 3}).json()
        assert len(found["hits"]) == 3
        source = found["hits"][0]["source"]
        assert client.get(f"/api/documents/{source}").status_code == 200
        assert client.get("/readyz").json()["documents"] == 5
    from wenda.api.service import _identity

    assert _identity(milvus_searcher.index.generation) == (milvus_searcher.index.generation.name,)
    result = call_tool(milvus_searcher, "ask_corpus", {"question": "静安区有多少家数据智能相关企业？"})
    assert result["found"] and "1700" in result["answer"]


def _row_set(target: Target) -> tuple[list, list, dict]:
    store = MilvusStore(target)
    try:
        store.load()
        rows = store.query_all(target.collection, "id >= 0", ["id", "source", "paragraph", "start_char", "end_char",
                                                               "text", "words", "grams"])
        vecs = store.vectors([r["id"] for r in rows])
        docs = [(d["source"], d["sha256"], d["passages"], d["chars"]) for d in store.documents()]
    finally:
        store.close()
    return sorted((tuple(r[k] for k in sorted(r)) for r in rows)), docs, vecs


def _small_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in sorted(os.listdir(SEEDS))[:2]:
        text = (SEEDS / name).read_text(encoding="utf-8")
        (folder / name).write_text(text[:1500], encoding="utf-8")
    return folder


def test_update_delete_reopen_and_model_mismatch(milvus_place, tmp_path, embedder, cache_dir):
    from wenda.search import Searcher
    from wenda.search.milvus_index import MilvusIndex

    corpus = _small_corpus(tmp_path / "corpus")
    target = milvus_place("updates")
    build = lambda: MilvusBuilder(target, IndexSettings(), cache_dir, embedder=embedder).build([corpus])  # noqa: E731
    first = build()
    assert len(first.added) == 2 and first.passages > 0
    assert build().up_to_date
    changed, gone = sorted(os.listdir(corpus))
    (corpus / changed).write_text("量子计算\n\n浦东新区建成了一座量子计算实验室，拥有三百名研究人员。\n", encoding="utf-8")
    (corpus / gone).unlink()
    update = build()
    assert (update.changed, update.deleted, update.embedded) == ([changed], [gone], 1)
    index = MilvusIndex.open(target)       # a new connection: what a restarted server sees
    searcher = Searcher.over(index, embedder=embedder)
    assert [d["source"] for d in searcher.documents()] == [changed]
    # The changed file is what a reopened connection finds (the answer model's decision on a one-passage
    # corpus is not this test's subject: test_same_hits_and_answers_as_local compares answers).
    top = searcher.search("浦东新区的量子计算实验室有多少名研究人员？", k=3).hits
    assert [h.passage.source for h in top] == [changed] and "三百名研究人员" in top[0].passage.text
    answer = searcher.ask("浦东新区的量子计算实验室有多少名研究人员？")
    assert answer.passages[0].passage.passage_id == top[0].passage.passage_id
    assert not searcher.reload_if_changed()
    # another model's vectors are never mixed in: a build or a searcher with another model is refused
    store = MilvusStore(target)
    try:
        store.load()
        meta = store.read_meta()
        meta["model"] = {**meta["model"], "fingerprint": "another-model"}
        store.write_meta(meta)
    finally:
        store.close()
    with pytest.raises(IndexMismatch, match="--rebuild"):
        build()
    with pytest.raises(IndexMismatch):
        Searcher.over(MilvusIndex.open(target), embedder=embedder)


def test_killed_build_resumes_to_a_clean_build(milvus_place, tmp_path, embedder, cache_dir, wenda_env, wenda_cli):
    """A real `wenda index --backend milvus` killed while it writes, then run again: the rows equal
    a clean build's. (It copies a small local index, so that the killed process need not load the
    model: the writing is the same as from files.)"""
    from wenda.indexer.build import build_index

    corpus = _small_corpus(tmp_path / "corpus")
    local = tmp_path / "index"
    build_index([corpus], local, IndexSettings(), cache_dir, embedder=embedder)
    killed = milvus_place("killed")
    args = [*wenda_cli, "index", "--from-index", str(local), "--backend", "milvus", "--milvus-uri", killed.uri,
            "--collection", killed.collection]
    # step 3: the first document finished, the second's passages written but it not yet marked done
    env = {**wenda_env, "WENDA_FAULT_STEP": "3"}
    if killed.token:
        env["WENDA_MILVUS_TOKEN"] = killed.token
    first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == -9, first.stderr
    env.pop("WENDA_FAULT_STEP")
    second = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    finished, unfinished = sorted(os.listdir(corpus))
    report = json.loads(second.stdout)
    assert (report["changed"], report["unchanged"], report["added"]) == ([unfinished], 1, [])
    clean = milvus_place("clean")
    MilvusBuilder(clean, IndexSettings(), cache_dir).copy_local(local)
    rows_k, docs_k, vecs_k = _row_set(killed)
    rows_c, docs_c, vecs_c = _row_set(clean)
    assert rows_k == rows_c and docs_k == docs_c
    assert vecs_k.keys() == vecs_c.keys()
    assert all(np.array_equal(vecs_k[i], vecs_c[i]) for i in vecs_k)


def test_milvus_down_is_one_line_exit_1_and_http_503(tmp_path, wenda_env, wenda_cli):
    from fastapi.testclient import TestClient

    from wenda.api.server import create_app
    from wenda.api.settings import Settings

    uri = f"http://127.0.0.1:{_free_port()}"      # nothing listens there
    with pytest.raises(BackendUnavailable):
        MilvusStore(Target(uri)).exists()
    done = subprocess.run([*wenda_cli, "search", "数字经济", "--backend", "milvus", "--milvus-uri", uri],
                          env=wenda_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and uri in lines[0], done.stderr
    settings = Settings.from_env({}, backend="milvus", milvus_uri=uri, cache_dir=tmp_path)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        import time

        deadline = time.monotonic() + 30
        while True:
            reply = client.get("/api/search", params={"q": "数字经济"})
            if reply.json()["error"]["code"] != "not_ready" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert reply.status_code == 503
        assert reply.json()["error"]["code"] == "backend_unavailable"
        assert uri in reply.json()["error"]["message"]


def test_settings_and_install_hint():
    from wenda.api.settings import Settings

    with pytest.raises(BadInput, match="--milvus-uri"):
        Settings.from_env({"WENDA_BACKEND": "milvus"}).milvus_target()
    with pytest.raises(BadInput, match="ending in .db"):
        Settings.from_env({"WENDA_BACKEND": "milvus", "WENDA_MILVUS_URI": "./milvus"}).milvus_target()
    with pytest.raises(BadInput, match="WENDA_MILVUS_COLLECTION"):
        Settings.from_env({"WENDA_MILVUS_COLLECTION": "no-dashes"})
    target = Settings.from_env({"WENDA_BACKEND": "milvus", "WENDA_MILVUS_URI": "./m.db",
                                "WENDA_MILVUS_TOKEN": "root:Milvus"}).milvus_target()
    assert (target.collection, target.token) == ("wenda", "root:Milvus")
