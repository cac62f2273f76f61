"""Reloads that cannot loop or break a running reader: a build that cannot be served is tried once,
a generation a reader holds outlives the builder's clean-up, and the reader's open store survives
its folder's removal. A small corpus written here (not the seeds) keeps these fast."""
from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from wenda.indexer.build import IndexSettings, build_index
from wenda.indexer.manifest import (CURRENT_FILE, GENERATION_PREFIX, MANIFEST_FILE, current_generation,
                                    write_atomic)
from wenda.search import Searcher

from test_http import start_server, stop_server


CORPUS = {
    "湖畔.txt": "湖畔书店\n\n城东的湖畔书店每周六举办一次读书会，去年共接待读者一万两千人次。\n\n"
              "书店二楼设有儿童绘本区，藏书三千余册。\n",
    "茶园.txt": "山间茶园\n\n云岭村的茶园种植面积达到八百亩，春茶采摘期持续四十天。\n\n"
              "村里新建的制茶车间每天可加工鲜叶五吨。\n",
    "港口.txt": "内河港口\n\n青石港今年新增两个集装箱泊位，全年吞吐量预计突破九十万标箱。\n",
}
ADDED_FIRST = ("灯塔.txt", "海岛灯塔\n\n白礁岛上的灯塔建于一八九三年，灯光射程达二十二海里。\n")
ADDED_LAST = ("果园.txt", "河谷果园\n\n柳溪河谷的樱桃果园每年五月开园，单日最多迎来游客六千人。\n")
OTHER_MODEL = "another-model-0000"      # the fingerprint of the build that cannot be served
QUERIES = ["湖畔书店的读书会多久举办一次", "云岭村茶园的种植面积", "青石港新增了几个泊位"]


def write_corpus(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def build(corpus: Path, index_dir: Path, cache_dir: Path, embedder) -> str:
    return build_index([corpus], index_dir, IndexSettings(), cache_dir, embedder=embedder).generation


def switch_to_other_model_build(index_dir: Path) -> str:
    """A complete generation whose manifest names another model (what a build with
    `--model` of a different fingerprint leaves), switched in as a build would be."""
    live = current_generation(index_dir)
    name = f"{GENERATION_PREFIX}29991231T000000-0th3r0"
    shutil.copytree(live, index_dir / name)
    manifest_path = index_dir / name / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["model"]["fingerprint"] = OTHER_MODEL
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    write_atomic(index_dir / CURRENT_FILE, f"{name}\n".encode())
    return name


@pytest.fixture()
def small_index(tmp_path, cache_dir, embedder) -> tuple[Path, Path]:
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    index_dir = tmp_path / "index"
    build(corpus, index_dir, cache_dir, embedder)
    return corpus, index_dir


# -- in one process --------------------------------------------------------------------------

def test_generation_held_by_an_open_searcher_survives_the_clean_up(small_index, cache_dir, embedder):
    corpus, index_dir = small_index
    held = Searcher.open(index_dir, embedder=embedder)
    served = held.index.generation
    for name, text in (ADDED_FIRST, ADDED_LAST):    # two builds: `served` is neither new nor previous
        (corpus / name).write_text(text, encoding="utf-8")
        build(corpus, index_dir, cache_dir, embedder)
    assert served.is_dir(), "the clean-up removed a generation a reader still serves"
    hits = held.search("湖畔书店的读书会多久举办一次", k=1).hits
    assert hits[0].passage.source == "湖畔.txt"
    assert [p.passage.source for p in held.passage(hits[0].passage.passage_id)] == ["湖畔.txt"]

    held.index.close()                      # released: the next build's clean-up removes it
    (corpus / "港口.txt").write_text(CORPUS["港口.txt"] + "\n港区还开通了一条夜间货运航线。\n", encoding="utf-8")
    build(corpus, index_dir, cache_dir, embedder)
    assert not served.exists()


def test_open_store_survives_its_folder_being_removed(small_index, embedder):
    _, index_dir = small_index
    searcher = Searcher.open(index_dir, embedder=embedder)
    shutil.rmtree(searcher.index.generation)    # what a clean-up that ignored readers would do
    results: list[object] = []

    def search_from_a_new_thread() -> None:     # a thread that never touched the store before
        try:
            results.append(searcher.search("云岭村茶园的种植面积", k=1).hits[0].passage.source)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results.append(exc)

    workers = [threading.Thread(target=search_from_a_new_thread) for _ in range(12)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert results == ["茶园.txt"] * 12


def test_a_build_that_cannot_be_served_is_tried_once(small_index, cache_dir, embedder, caplog):
    corpus, index_dir = small_index
    searcher = Searcher.open(index_dir, embedder=embedder)
    first = searcher.index.generation.name
    bad = switch_to_other_model_build(index_dir)
    with caplog.at_level(logging.WARNING, logger="wenda.search"):
        assert [searcher.reload_if_changed() for _ in range(5)] == [False] * 5
    said = [r.getMessage() for r in caplog.records if bad in r.getMessage()]
    assert len(said) == 1 and OTHER_MODEL in said[0], said
    assert searcher.index.generation.name == first

    (corpus / ADDED_FIRST[0]).write_text(ADDED_FIRST[1], encoding="utf-8")
    fixed = build(corpus, index_dir, cache_dir, embedder)
    assert searcher.reload_if_changed()
    assert searcher.index.generation.name == fixed
    assert searcher.search("白礁岛灯塔的灯光射程", k=1).hits[0].passage.source == ADDED_FIRST[0]


# -- a real server ---------------------------------------------------------------------------

def wait_until(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def top_source(client: httpx.Client, query: str) -> str | None:
    r = client.get("/api/search", params={"q": query, "k": 1})
    hits = r.json()["hits"] if r.status_code == 200 else []
    return hits[0]["source"] if hits else None


@pytest.mark.slow
def test_server_serves_through_three_builds_one_of_them_unservable(small_index, cache_dir, embedder, wenda_env,
                                                                   tmp_path, run_wenda):
    corpus, index_dir = small_index
    log_path = tmp_path / "serve.log"
    proc, base, _ = start_server(index_dir, wenda_env, log_path, {"WENDA_RELOAD_CHECK": "0.3"}, forks=run_wenda)
    stop = threading.Event()
    failures: list[str] = []
    done = [0]

    def client(n: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            while not stop.is_set():
                try:
                    r = c.get("/api/search", params={"q": QUERIES[n % len(QUERIES)], "k": 3})
                    if r.status_code != 200 or not r.json()["hits"]:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                done[0] += 1
                time.sleep(0.005)       # continuous, but leaves the builder some of the GIL

    try:
        clients = [threading.Thread(target=client, args=(n,)) for n in range(32)]
        for t in clients:
            t.start()
        with httpx.Client(base_url=base, timeout=60) as probe:
            (corpus / ADDED_FIRST[0]).write_text(ADDED_FIRST[1], encoding="utf-8")
            build(corpus, index_dir, cache_dir, embedder)
            wait_until(lambda: top_source(probe, "白礁岛灯塔的灯光射程") == ADDED_FIRST[0], 30, "the first new file")

            bad = switch_to_other_model_build(index_dir)
            wait_until(lambda: OTHER_MODEL in log_path.read_text(), 30, "the server to refuse the other model's build")
            time.sleep(2.0)             # several reload checks while the unservable build is live

            (corpus / ADDED_LAST[0]).write_text(ADDED_LAST[1], encoding="utf-8")
            build(corpus, index_dir, cache_dir, embedder)   # its clean-up meets the generation being served
            wait_until(lambda: top_source(probe, "柳溪河谷樱桃果园的游客") == ADDED_LAST[0], 30, "the last new file")
            assert top_source(probe, "白礁岛灯塔的灯光射程") == ADDED_FIRST[0]
        time.sleep(0.5)
    finally:
        stop.set()
        for t in clients if "clients" in locals() else []:
            t.join()
        stop_server(proc)
    log = log_path.read_text()
    assert failures == [], f"{len(failures)} of {done[0]} requests failed, first: {failures[:3]}"
    assert done[0] > 100
    refusals = [line for line in log.splitlines() if OTHER_MODEL in line]
    assert len(refusals) == 1 and bad in refusals[0], log
    assert "Traceback" not in log and "unable to open database file" not in log, log
