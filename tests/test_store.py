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
    """A document's text is kept once (its passages' text and the rest); clean only where it
    differs from the text; no FTS5 tables, no token or bigram columns: the posting arrays are the
    lexical index."""
    conn = sqlite3.connect(current_generation(seeds_index) / STORE_FILE)
    try:
        tables = {name for name, in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        assert tables == {"meta", "documents", "passages", "postings", "postings_rows"}
        columns = [row[1] for row in conn.execute("PRAGMA table_info(passages)")]
        assert not {"passage_id", "tokens", "grams"} & set(columns)
        same, total = conn.execute("SELECT sum(clean IS NULL), count(*) FROM passages").fetchone()
        assert 0 < same <= total
        assert conn.execute("SELECT count(*) FROM passages WHERE clean = text").fetchone()[0] == 0
        # each character of a document is kept once: in a passage or in the document's rest
        chars, rest, outside = conn.execute("SELECT sum(chars), sum(length(text)), min(outside) FROM documents").fetchone()
        assert outside == 1 and rest + conn.execute("SELECT sum(length(text)) FROM passages").fetchone()[0] == chars
    finally:
        conn.close()


def test_format_1_index_is_refused_with_the_rebuild_command(index_copy, cache_dir, embedder):
    """An index built before the lean store is refused at open with the rebuild command (a build
    over it starts afresh: indexer/build.py reads a manifest it refuses as nothing to reuse)."""
    from wenda.search import Searcher

    manifest_path = current_generation(index_copy) / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["format"] = 1
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorrupt) as err:
        Searcher.open(index_copy, cache_dir=cache_dir, embedder=embedder)
    assert "index format 1" in str(err.value) and "--rebuild" in str(err.value)
