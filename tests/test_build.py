"""Index builds: manifest contents, no-op re-runs, incremental updates, a build killed midway."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from wenda.indexer import vectors
from wenda.indexer.build import IndexSettings, build_index
from wenda.indexer.errors import BadInput, IndexBusy, WendaError
from wenda.indexer.manifest import current_generation, read_manifest
from wenda.indexer.store import STORE_FILE, StoreReader
from wenda.search import Searcher

from conftest import SEEDS

pytestmark = pytest.mark.slow


def _vectors_by_id(index_dir):
    gen = current_generation(index_dir)
    index = vectors.load(gen / vectors.VECTORS_FILE)
    ids = vectors.stored_ids(index)
    return dict(zip(ids.tolist(), vectors.reconstruct(index, ids)))


def _passages(index_dir):
    gen = current_generation(index_dir)
    store = StoreReader(gen / STORE_FILE)
    try:
        rows = store.passages_by_rowid(store.all_rowids())
        return {sp.passage.passage_id: (sp.rowid, sp.passage.start, sp.passage.end, sp.passage.text)
                for sp in rows.values()}
    finally:
        store.close()


def test_manifest_records_what_the_build_used(seeds_index):
    gen = current_generation(seeds_index)
    manifest = read_manifest(gen)
    assert manifest["format"] == 2
    assert manifest["model"]["name"] == "multilingual-e5-small"
    assert manifest["model"]["dim"] == 384 and len(manifest["model"]["fingerprint"]) >= 16
    assert manifest["chunking"]["max_chars"] > manifest["chunking"]["min_chars"] > 0
    assert set(manifest["sources"]) == {p.name for p in SEEDS.glob("*.txt")}
    for name, entry in manifest["sources"].items():
        assert entry["sha256"] == hashlib.sha256((SEEDS / name).read_bytes()).hexdigest()
    assert manifest["counts"]["passages"] == sum(e["passages"] for e in manifest["sources"].values())
    assert set(manifest["files"]) >= {"passages.sqlite", "vectors.faiss"}


def test_info_json_reports_documents_and_passages(seeds_index, run_wenda, wenda_env):
    out = run_wenda(["info", "--json", "--index-dir", str(seeds_index)], env=wenda_env)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["documents"] == 5 and info["passages"] > 100
    assert {d["source"] for d in info["sources"]} == {p.name for p in SEEDS.glob("*.txt")}
    assert info["model"]["name"] == "multilingual-e5-small"


def test_rerun_on_unchanged_corpus_does_no_work(index_copy, cache_dir, embedder):
    before = current_generation(index_copy).name
    report = build_index([SEEDS], index_copy, IndexSettings(), cache_dir, embedder=embedder)
    assert report.up_to_date and report.embedded == 0
    assert current_generation(index_copy).name == before


def test_changing_one_file_rebuilds_only_its_passages(index_copy, tmp_path, cache_dir, embedder):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    old_passages, old_vectors = _passages(index_copy), _vectors_by_id(index_copy)
    changed = corpus / "003_4ecc75365cd6251d.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\n新增的一段：浦东新区发布了数据要素市场的新政策。\n",
                       encoding="utf-8")
    (corpus / "001_bf23b14b4ba1a3d7.txt").unlink()
    (corpus / "005_new.md").write_text("# 新文章\n\n松江区的工业互联网平台连接了三千多家制造企业。\n", encoding="utf-8")

    report = build_index([corpus], index_copy, IndexSettings(), cache_dir, embedder=embedder)
    assert report.changed == ["003_4ecc75365cd6251d.txt"]
    assert report.added == ["005_new.md"] and report.deleted == ["001_bf23b14b4ba1a3d7.txt"]
    new_passages, new_vectors = _passages(index_copy), _vectors_by_id(index_copy)
    rebuilt = {pid for pid in new_passages if pid.startswith(("003_", "005_"))}
    assert report.embedded == len(rebuilt)
    kept = {pid for pid in new_passages if pid not in rebuilt}
    assert kept and all(pid.startswith(("000_", "002_", "004_")) for pid in kept)
    for pid in kept:            # carried over untouched: same row, same offsets, same vector
        assert new_passages[pid] == old_passages[pid]
        rowid = new_passages[pid][0]
        assert np.array_equal(new_vectors[rowid], old_vectors[rowid])
    assert not any(pid.startswith("001_") for pid in new_passages)
    hits = Searcher.open(index_copy, embedder=embedder).search("松江区工业互联网平台连接了多少家企业", k=1).hits
    assert hits[0].passage.source == "005_new.md"


def test_a_build_killed_midway_leaves_the_old_index_answering(index_copy, tmp_path, run_wenda, wenda_env, embedder):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "000_8ea395dd2807991d.txt").write_text("替换后的文章。\n\n完全不同的内容。\n", encoding="utf-8")
    before = Searcher.open(index_copy, embedder=embedder).search("静安区的数据智能企业数量有多少", k=3)
    generation = current_generation(index_copy).name
    env = {**wenda_env, "WENDA_FAULT_STEP": "8"}     # somewhere after chunking, before the switch
    run = run_wenda(["index", str(corpus), "--index-dir", str(index_copy)], env=env)
    assert run.returncode == -9, run.stderr      # SIGKILL
    assert current_generation(index_copy).name == generation
    after = Searcher.open(index_copy, embedder=embedder).search("静安区的数据智能企业数量有多少", k=3)
    assert [h.passage.passage_id for h in after.hits] == [h.passage.passage_id for h in before.hits]


def test_bad_inputs_to_the_builder(tmp_path, cache_dir, embedder):
    with pytest.raises(BadInput, match="does not exist"):
        build_index([tmp_path / "missing"], tmp_path / "index", IndexSettings(), cache_dir, embedder=embedder)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.txt").write_text("  \n\n ", encoding="utf-8")
    (empty / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 100)
    (empty / "bad.txt").write_bytes(bytes(range(128, 256)) * 10)
    with pytest.raises(BadInput, match="no indexable text"):
        build_index([empty], tmp_path / "index", IndexSettings(), cache_dir, embedder=embedder)
    assert not (tmp_path / "index" / "CURRENT").exists()
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x", encoding="utf-8")
    with pytest.raises(WendaError, match="cannot write to the index folder"):
        build_index([SEEDS], not_a_folder / "index", IndexSettings(), cache_dir, embedder=embedder)


def test_second_writer_is_refused(index_copy, cache_dir, embedder):
    from wenda.indexer.build import WriterLock

    with WriterLock(index_copy):
        with pytest.raises(IndexBusy, match="another `wenda index`"):
            build_index([SEEDS], index_copy, IndexSettings(), cache_dir, embedder=embedder)
