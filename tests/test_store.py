"""The lean store (index format 2): each text kept once, and an index of format 1 refused with the
rebuild command."""
from __future__ import annotations

import json
import sqlite3

import pytest

from wenda.indexer.errors import IndexCorrupt
from wenda.indexer.manifest import MANIFEST_FILE, current_generation
from wenda.indexer.store import STORE_FILE


def test_store_keeps_no_second_copy_of_text(seeds_index):
    """Text lives in documents.text and passages.text; clean only where it differs; no FTS5 tables,
    no token or bigram copies beyond the posting arrays and the jieba tokens."""
    conn = sqlite3.connect(current_generation(seeds_index) / STORE_FILE)
    try:
        tables = {name for name, in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        assert tables == {"meta", "documents", "passages", "postings", "postings_rows"}
        columns = [row[1] for row in conn.execute("PRAGMA table_info(passages)")]
        assert "passage_id" not in columns and "grams" not in columns
        same, total = conn.execute("SELECT sum(clean IS NULL), count(*) FROM passages").fetchone()
        assert 0 < same <= total
        assert conn.execute("SELECT count(*) FROM passages WHERE clean = text").fetchone()[0] == 0
        text_bytes = conn.execute("SELECT sum(length(CAST(text AS BLOB))) FROM documents").fetchone()[0]
        size = (current_generation(seeds_index) / STORE_FILE).stat().st_size
        assert size < 6 * text_bytes          # format 1: ~18 times the documents' text
    finally:
        conn.close()


def test_format_1_index_is_refused_with_the_rebuild_command(index_copy, cache_dir, embedder):
    from wenda.search import Searcher

    manifest_path = current_generation(index_copy) / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["format"] = 1
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorrupt) as err:
        Searcher.open(index_copy, cache_dir=cache_dir, embedder=embedder)
    assert "index format 1" in str(err.value) and "--rebuild" in str(err.value)
