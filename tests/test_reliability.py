"""Crash safety by fault injection, corruption detection and repair, one writer at a time,
hot reload. Real subprocesses killed with SIGKILL; real damaged files."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from wenda.indexer import vectors
from wenda.indexer.build import Builder, IndexSettings, build_index
from wenda.indexer.errors import IndexCorrupt
from wenda.indexer.manifest import CURRENT_FILE, current_generation, read_manifest
from wenda.indexer.store import STORE_FILE, StoreReader
from wenda.search import Searcher

from conftest import SEEDS

pytestmark = pytest.mark.slow

WAVE = 3                # kill runs at a time
QUERIES = ["普陀区打造了多少个数字化转型示范项目", "上海在线新经济的规模", "城市安全大脑建在哪里"]


def small_corpus(folder: Path, variant: int) -> Path:
    """Three short documents cut from the seeds; variant 1 changes one, drops one, adds one."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in folder.iterdir():
        f.unlink()
    p001 = (SEEDS / "001_bf23b14b4ba1a3d7.txt").read_text(encoding="utf-8")[:2500]
    p003 = (SEEDS / "003_4ecc75365cd6251d.txt").read_text(encoding="utf-8")[:2500]
    (folder / "a.txt").write_text(p001, encoding="utf-8")
    (folder / "b.txt").write_text(p003 if variant == 0 else p003 + "\n\n补充：上海在线新经济持续增长。\n",
                                  encoding="utf-8")
    if variant == 0:
        (folder / "c.md").write_text("# 附录\n\n本附录说明统计口径与数据来源，涉及多个部门的公开资料。\n", encoding="utf-8")
    else:
        (folder / "d.md").write_text("# 新增\n\n嘉定区的智能网联汽车测试道路总长超过一千公里。\n", encoding="utf-8")
    return folder


def content(index_dir: Path) -> dict:
    """Everything an index says, independent of build ids and timestamps."""
    gen = current_generation(index_dir)
    manifest = read_manifest(gen)
    store = StoreReader(gen / STORE_FILE)
    try:
        rows = store.passages_by_rowid(store.all_rowids())
        passages = sorted((sp.passage.passage_id, sp.rowid, sp.passage.start, sp.passage.end, sp.passage.text,
                           sp.passage.section, sp.passage.clean) for sp in rows.values())
        docs = [(d["source"], d["title"], d["sha256"], d["passages"]) for d in store.documents()]
    finally:
        store.close()
    index = vectors.load(gen / vectors.VECTORS_FILE)
    ids = np.sort(vectors.stored_ids(index))
    return {"docs": docs, "passages": passages, "ids": ids.tolist(), "vectors": vectors.reconstruct(index, ids),
            "sources": manifest["sources"], "model": manifest["model"],
            "precision": manifest["vector_index"].get("embedding_precision", "float32")}


def assert_same_content(a: dict, b: dict) -> None:
    assert a["docs"] == b["docs"]
    assert a["passages"] == b["passages"]
    assert a["ids"] == b["ids"]
    assert a["sources"] == b["sources"] and a["model"] == b["model"]
    # re-embedding the same text in another batch may differ in the last float bits (float32), or
    # in bfloat16's rounding (builds on CPUs with native bfloat16: indexer/build.py)
    assert a["precision"] == b["precision"]
    if a["precision"] == "float32":
        assert np.allclose(a["vectors"], b["vectors"], atol=1e-5)
    else:
        assert (a["vectors"] * b["vectors"]).sum(axis=1).min() >= 0.9999


def answers(index_dir: Path, embedder) -> list[list[str]]:
    searcher = Searcher.open(index_dir, embedder=embedder)
    return [[h.passage.passage_id for h in searcher.search(q, k=3).hits] for q in QUERIES]


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, cache_dir, embedder) -> tuple[Path, Path]:
    """(corpus, index) of the three short documents, built once: the damage tests repair copies of
    it, so each repair re-embeds a few passages instead of the whole seeds."""
    base = tmp_path_factory.mktemp("small")
    corpus = small_corpus(base / "corpus", 0)
    build_index([corpus], base / "index", IndexSettings(), cache_dir, embedder=embedder)
    return corpus, base / "index"


@pytest.fixture()
def small_copy(small_index, tmp_path) -> tuple[Path, Path]:
    corpus, index = small_index
    shutil.copytree(index, tmp_path / "index", symlinks=True)
    return corpus, tmp_path / "index"


@pytest.fixture(scope="module")
def fault_setup(tmp_path_factory, cache_dir, embedder):
    base = tmp_path_factory.mktemp("faults")
    old_corpus = small_corpus(base / "old", 0)
    new_corpus = small_corpus(base / "new", 1)
    pristine = base / "pristine"
    build_index([old_corpus], pristine, IndexSettings(), cache_dir, embedder=embedder)
    clean = base / "clean"
    build_index([new_corpus], clean, IndexSettings(), cache_dir, embedder=embedder)
    return base, new_corpus, pristine, content(clean), answers(pristine, embedder)


def test_killed_at_twenty_points_the_old_index_survives_and_the_next_build_is_clean(
        fault_setup, wenda_env, cache_dir, embedder):
    base, new_corpus, pristine, clean, old_answers = fault_setup
    rng = random.Random(20261122)
    # The kill points: every step of this build (counted by the builder's own fault hook, in
    # process, on a copy), and one past the last, where the build must complete.
    counted = Builder(shutil.copytree(pristine, base / "count"), IndexSettings(), cache_dir, embedder=embedder)
    counted.build([new_corpus])
    steps = list(range(1, counted._step_count + 2))
    # Each kill is a real `wenda index` process (the CLI's main: the model, SIGKILL) forked from one
    # that did the imports once (tests/_wenda_forks.py); three run at a time, on one thread each.
    # All waves are queued at once, so the next wave runs while this process checks the last one.
    env = {**wenda_env, "WENDA_THREADS": "1"}
    plans = [[("step", n) for n in steps[first:first + WAVE]] for first in range(0, len(steps), WAVE)]
    plans.append([("timer", rng.uniform(0.5, 6.0)) for _ in range(WAVE)])
    plans.append([("timer", rng.uniform(0.5, 6.0)) for _ in range(WAVE)])
    kills, step_kills, steps_done = [], 0, False
    forks = subprocess.Popen([sys.executable, str(Path(__file__).with_name("_wenda_forks.py"))], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert "ready" in json.loads(forks.stdout.readline())
        waves = []
        for wave in plans:
            jobs = []
            for kind, when in wave:
                index_dir = base / f"run-{kind}-{when}"
                shutil.copytree(pristine, index_dir)
                jobs.append({"args": ["index", str(new_corpus), "--index-dir", str(index_dir)],
                             "env": {"WENDA_FAULT_STEP": str(when)} if kind == "step" else {},
                             "log": str(base / f"run-{kind}-{when}.log"),
                             "kill_after": when if kind == "timer" else None})
            waves.append(jobs)
            forks.stdin.write(json.dumps(jobs) + "\n")
        forks.stdin.flush()
        for wave, jobs in zip(plans, waves):
            json.loads(forks.stdout.readline())                  # the children's pids
            codes = json.loads(forks.stdout.readline())          # once all of them have ended
            for (kind, when), job, code in zip(wave, jobs, codes):
                index_dir = Path(job["args"][3])
                err = Path(job["log"]).read_text(encoding="utf-8", errors="replace")
                if code == 0:
                    steps_done |= kind == "step" and when == steps[-1]    # all step points covered
                    shutil.rmtree(index_dir)
                    continue                        # (or the timer fired after the build finished)
                assert code == -signal.SIGKILL, err
                kills.append((kind, when))
                step_kills += kind == "step"
                # the previous index (or, killed after the switch, the new one) opens and answers
                live = current_generation(index_dir)
                if read_manifest(live)["sources"] == read_manifest(current_generation(pristine))["sources"]:
                    assert answers(index_dir, embedder) == old_answers
                else:
                    assert_same_content(content(index_dir), clean)
                # the next build completes and equals a clean build of the new corpus
                build_index([new_corpus], index_dir, IndexSettings(), cache_dir, embedder=embedder)
                assert_same_content(content(index_dir), clean)
                assert not [p for p in index_dir.iterdir() if p.name.startswith(".building-")]
                shutil.rmtree(index_dir)
    except BaseException:
        forks.kill()                                # the queued waves need not run
        raise
    finally:
        forks.stdin.close()
        forks.wait(timeout=300)
    assert steps_done, "the build has more steps than the plan kills at"
    assert step_kills == len(steps) - 1, kills       # every step before the last one killed it
    assert len(kills) >= 20, kills
    assert step_kills >= 15


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        middle = len(data) // 2
        data[middle] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["passages.sqlite", "vectors.faiss", "manifest.json"])
@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_damaged_files_are_detected_at_open_and_repaired(small_copy, name, how, cache_dir, embedder):
    corpus, index_copy = small_copy
    expected = answers(index_copy, embedder)
    target = current_generation(index_copy) / name
    _damage(target, how)
    with pytest.raises(IndexCorrupt) as caught:
        Searcher.open(index_copy, embedder=embedder)
    assert str(target) in str(caught.value) or "manifest" in str(caught.value)
    assert "wenda index" in str(caught.value)
    report = build_index([corpus], index_copy, IndexSettings(), cache_dir, embedder=embedder)
    assert not report.up_to_date
    assert answers(index_copy, embedder) == expected


def test_checksum_mismatch_and_mixed_builds_are_refused(small_copy, tmp_path, cache_dir, embedder):
    corpus, index_copy = small_copy
    gen = current_generation(index_copy)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["vectors.faiss"]["sha256"] = "0" * 64
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    # the file itself is unchanged (its fingerprint agrees): the full check is what reads checksums
    with pytest.raises(IndexCorrupt, match="does not match its checksum"):
        Searcher.open(index_copy, embedder=embedder, full_check=True)
    manifest["files"]["vectors.faiss"]["sample"] = "0" * 64
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorrupt, match="fingerprint"):
        Searcher.open(index_copy, embedder=embedder)

    # a store from another build next to this build's manifest
    other = tmp_path / "other"
    build_index([small_corpus(tmp_path / "corpus", 1)], other, IndexSettings(), cache_dir, embedder=embedder)
    shutil.copy(current_generation(other) / STORE_FILE, gen / STORE_FILE)
    with pytest.raises(IndexCorrupt):
        Searcher.open(index_copy, embedder=embedder)
    # a damaged CURRENT pointer
    (index_copy / CURRENT_FILE).write_text("gen-nonexistent\n", encoding="utf-8")
    with pytest.raises(IndexCorrupt, match="missing build"):
        Searcher.open(index_copy, embedder=embedder)
    build_index([corpus], index_copy, IndexSettings(), cache_dir, embedder=embedder)
    hits = Searcher.open(index_copy, embedder=embedder).search("上海在线新经济", k=1).hits
    assert [h.passage.source for h in hits] == ["b.txt"]


def test_two_writers_the_second_is_refused(index_copy, wenda_cli, wenda_env):
    first = subprocess.Popen([*wenda_cli, "index", str(SEEDS), "--index-dir", str(index_copy), "--rebuild"],
                             env=wenda_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = index_copy / ".lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "pid" not in (lock.read_text() if lock.exists() else ""):
        time.sleep(0.05)
    second = subprocess.run([*wenda_cli, "index", str(SEEDS), "--index-dir", str(index_copy)], env=wenda_env,
                            capture_output=True, text=True, timeout=120)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert second.returncode == 1
    assert "another `wenda index`" in second.stderr and "Traceback" not in second.stderr


def test_searcher_picks_up_a_new_build_without_failing_inflight_queries(index_copy, tmp_path, cache_dir, embedder):
    searcher = Searcher.open(index_copy, embedder=embedder)
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "009_extra.txt").write_text("奉贤区的美丽健康产业园聚集了两百多家化妆品企业。\n", encoding="utf-8")
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                assert searcher.search("静安区数据智能企业", k=3).hits
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                errors.append(exc)

    workers = [threading.Thread(target=hammer) for _ in range(2)]
    for w in workers:
        w.start()
    build_index([corpus], index_copy, IndexSettings(), cache_dir, embedder=embedder)
    assert searcher.reload_if_changed()
    time.sleep(0.5)
    stop.set()
    for w in workers:
        w.join()
    assert not errors
    hit = searcher.search("奉贤区美丽健康产业园有多少家企业", k=1).hits[0]
    assert hit.passage.source == "009_extra.txt"


def test_corrupt_cached_model_is_rebuilt(tmp_path, cache_dir):
    from wenda.indexer.bundled_model import ensure_bundled_model

    # the session's expanded folder, copied (expanding into an empty cache: tests/_model_fixture.py)
    cache = tmp_path / "cache"
    expanded = ensure_bundled_model(cache_dir)
    folder = shutil.copytree(expanded, cache / expanded.name)
    weights = next(folder.rglob("*.safetensors"))
    _damage(weights, "flip")
    again = ensure_bundled_model(cache)
    from wenda.indexer.bundled_model import verify_model_folder

    assert verify_model_folder(again, full=True) is None


def test_symlink_out_of_the_corpus_is_refused(tmp_path, cache_dir, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("上海市的数字经济规模不断扩大。\n", encoding="utf-8")
    secret = tmp_path / "secret.txt"
    secret.write_text("机密内容不应被索引。\n", encoding="utf-8")
    os.symlink(secret, corpus / "leak.txt")
    report = build_index([corpus], tmp_path / "index", IndexSettings(), cache_dir, embedder=embedder)
    assert [s["source"] for s in report.skipped] == ["leak.txt"]
    assert "outside" in report.skipped[0]["reason"]
    searcher = Searcher.open(tmp_path / "index", embedder=embedder)
    assert [d["source"] for d in searcher.documents()] == ["ok.txt"]
