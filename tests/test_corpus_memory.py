"""The corpus is remembered: `wenda index` without PATH updates the folders the index was built
from (never ./seeds once an index exists), repair messages name this index and its corpus,
`wenda eval` builds its own index, and a model alias does not re-embed the corpus."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wenda.api.cli import main
from wenda.indexer.build import IndexSettings, build_index
from wenda.indexer.errors import IndexCorrupt
from wenda.indexer.manifest import CURRENT_FILE, MANIFEST_FILE, current_generation, read_manifest
from wenda.search.open_index import LoadedIndex

HARBOUR = ("临港港口的新码头\n\n"
           "临港新片区的东海码头今年开通了十二条国际集装箱航线，全年吞吐量达到三百万标准箱。\n\n"
           "码头采用自动化岸桥，装卸效率比传统码头提高了百分之三十。\n")
TEA = ("龙井茶园的春天\n\n"
       "西湖边的茶园在清明前开始采摘，今年春茶产量约为八百吨。\n\n"
       "茶农说，明前茶的价格比雨前茶高出一倍左右。\n")
ORCHARD = ("果园的秋收\n\n"
           "奉贤区的黄桃果园今年种植面积扩大到两万亩，亩产约一千五百公斤。\n")
DECOY = ("别的文章\n\n"
         "这是工作目录里 seeds 文件夹中的一篇文章，用户自己的索引不应该包含它。\n")


@pytest.fixture()
def workspace(tmp_path, monkeypatch, cache_dir) -> Path:
    """A working folder like the repository's: a ./seeds (the default corpus) beside the user's
    own folder mydocs/."""
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "decoy.txt").write_text(DECOY, encoding="utf-8")
    (tmp_path / "mydocs").mkdir()
    (tmp_path / "mydocs" / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    (tmp_path / "mydocs" / "tea.txt").write_text(TEA, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WENDA_CACHE", str(cache_dir))
    for name in ("WENDA_INDEX", "WENDA_MODEL", "WENDA_FAULT_STEP"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _live_manifest(index_dir: Path) -> dict:
    return read_manifest(current_generation(index_dir))


def _build_mydocs(workspace: Path, embedder) -> Path:
    index_dir = workspace / "idx"
    build_index([Path("mydocs")], index_dir, IndexSettings(), Path(os.environ["WENDA_CACHE"]), embedder=embedder)
    return index_dir


def test_the_manifest_records_the_corpus_as_given_but_absolute(workspace, embedder):
    index_dir = _build_mydocs(workspace, embedder)
    assert _live_manifest(index_dir)["corpus"] == [str(workspace / "mydocs")]


def test_index_without_path_updates_the_recorded_corpus_not_the_seeds(workspace, capsys):
    assert main(["index", "mydocs", "--index-dir", "idx"]) == 0
    (workspace / "mydocs" / "orchard.txt").write_text(ORCHARD, encoding="utf-8")
    capsys.readouterr()
    assert main(["index", "--index-dir", "idx", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == ["orchard.txt"] and report["deleted"] == []
    assert sorted(_live_manifest(workspace / "idx")["sources"]) == ["harbour.txt", "orchard.txt", "tea.txt"]


def test_a_brand_new_index_folder_is_built_from_the_default_seeds(workspace, capsys):
    assert main(["index", "--index-dir", "fresh", "--json"]) == 0
    assert sorted(_live_manifest(workspace / "fresh")["sources"]) == ["decoy.txt"]


def test_a_damaged_file_names_the_command_that_repairs_this_index(workspace, embedder):
    index_dir = _build_mydocs(workspace, embedder)
    gen = current_generation(index_dir)
    with open(gen / "vectors.faiss", "ab") as fh:
        fh.write(b"\0" * 16)
    with pytest.raises(IndexCorrupt) as caught:
        LoadedIndex.open(index_dir)
    assert f"`wenda index {workspace / 'mydocs'} --index-dir {index_dir}`" in str(caught.value)


def test_the_default_index_folder_needs_no_index_dir_in_its_repair_command(workspace, embedder, cache_dir):
    build_index([Path("mydocs")], Path("index"), IndexSettings(), cache_dir, embedder=embedder)
    (current_generation(Path("index")) / "passages.sqlite").write_bytes(b"damaged")
    with pytest.raises(IndexCorrupt) as caught:
        LoadedIndex.open(Path("index"))
    assert f"`wenda index {workspace / 'mydocs'}` to repair" in str(caught.value)


def test_a_damaged_manifest_is_repaired_from_its_corpus_not_the_seeds(workspace, embedder, capsys):
    index_dir = _build_mydocs(workspace, embedder)
    first = current_generation(index_dir)
    assert main(["index", "--index-dir", "idx", "--rebuild"]) == 0     # a second generation beside the first
    (current_generation(index_dir) / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorrupt) as caught:
        LoadedIndex.open(index_dir)
    # the live manifest is unreadable: the hint comes from the previous build's manifest
    assert f"wenda index {workspace / 'mydocs'} --index-dir {index_dir}" in str(caught.value)
    assert first.is_dir()
    assert main(["index", "--index-dir", "idx"]) == 0
    assert sorted(_live_manifest(index_dir)["sources"]) == ["harbour.txt", "tea.txt"]


def test_an_index_whose_corpus_cannot_be_read_is_not_rebuilt_from_the_seeds(workspace, embedder, capsys):
    index_dir = _build_mydocs(workspace, embedder)
    live = current_generation(index_dir)
    (live / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    capsys.readouterr()
    assert main(["index", "--index-dir", "idx"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"wenda index PATH ... --index-dir {index_dir}" in err
    assert (index_dir / CURRENT_FILE).read_text().strip() == live.name      # untouched


def test_eval_builds_its_own_index_and_never_writes_the_live_one(workspace, embedder, capsys):
    index_dir = _build_mydocs(workspace, embedder)
    pointer = (index_dir / CURRENT_FILE).read_text()
    generations = sorted(p.name for p in index_dir.iterdir())
    questions = workspace / "my_questions.jsonl"
    questions.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"question": "东海码头开通了多少条国际集装箱航线？", "doc": "harbour.txt", "answer": "十二条"},
        {"question": "今年春茶产量大约是多少？", "doc": "tea.txt", "answer": "八百吨"},
    ]) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["eval", str(questions), "--index-dir", "idx", "--work-dir", "work", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (index_dir / CURRENT_FILE).read_text() == pointer
    assert sorted(p.name for p in index_dir.iterdir()) == generations
    assert Path(report["index_dir"]).resolve().is_relative_to((workspace / "work").resolve())
    assert report["corpus"] == [str(workspace / "mydocs")]       # the live index's corpus, read only
    assert report["retrieval"]["recall@5"] == 1.0


def test_a_model_alias_does_not_re_embed_an_unchanged_corpus(workspace, embedder, cache_dir):
    index_dir = _build_mydocs(workspace, embedder)
    generation = current_generation(index_dir).name
    report = build_index([Path("mydocs")], index_dir, IndexSettings(model="intfloat/multilingual-e5-small"),
                         cache_dir, embedder=embedder)
    assert report.up_to_date and report.embedded == 0
    assert current_generation(index_dir).name == generation
    assert _live_manifest(index_dir)["model"]["name"] == "multilingual-e5-small"


def test_a_damaged_pointer_names_the_corpus_of_the_builds_left(workspace, embedder):
    index_dir = _build_mydocs(workspace, embedder)
    (index_dir / CURRENT_FILE).write_text("gen-nonexistent\n", encoding="utf-8")
    with pytest.raises(IndexCorrupt, match="missing build") as caught:
        LoadedIndex.open(index_dir)
    assert f"`wenda index {workspace / 'mydocs'} --index-dir {index_dir}`" in str(caught.value)
