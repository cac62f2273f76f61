"""Opening an index checks sizes and quick fingerprints, not every byte; the full check runs on
demand (`wenda index --verify`) and in a server's background, and a damaged build is refused."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from wenda.indexer.errors import IndexCorrupt
from wenda.indexer.manifest import MANIFEST_FILE, current_generation, quick_fingerprint, read_manifest, verify_index
from wenda.search import Searcher

from test_http import start_server, stop_server

pytestmark = pytest.mark.slow

# The seeds index: its store is large enough to have bytes the quick fingerprint does not read.
@pytest.fixture()
def index_dir(index_copy) -> Path:
    return index_copy            # copied with its files' times (shutil.copy2)


def _flip_keeping_mtime(path: Path, offset: int) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _unsampled_offset(path: Path, expected: str) -> int:
    """A byte whose change the quick fingerprint does not see (found by trying)."""
    original = path.read_bytes()
    for offset in range(len(original) // 3, len(original), 257):
        _flip_keeping_mtime(path, offset)
        unseen = quick_fingerprint(path)["sample"] == expected
        _flip_keeping_mtime(path, offset)          # back as it was
        if unseen:
            return offset
    raise AssertionError(f"every byte of {path} is sampled")


def test_quick_open_misses_unsampled_damage_that_the_full_check_finds(index_dir, embedder, run_wenda, wenda_env):
    gen = current_generation(index_dir)
    store = gen / "passages.sqlite"
    expected = read_manifest(gen)["files"]["passages.sqlite"]
    _flip_keeping_mtime(store, _unsampled_offset(store, expected["sample"]))
    Searcher.open(index_dir, embedder=embedder)                     # quick: sizes and fingerprints agree
    with pytest.raises(IndexCorrupt, match="passages.sqlite does not match its checksum"):
        verify_index(index_dir)
    with pytest.raises(IndexCorrupt, match="checksum"):
        Searcher.open(index_dir, embedder=embedder, full_check=True)
    run = run_wenda(["index", "--verify", "--index-dir", str(index_dir)], env=wenda_env)
    assert run.returncode == 1 and "does not match its checksum" in run.stderr and "wenda index" in run.stderr


def test_sampled_damage_and_moved_mtimes_are_refused_at_open(index_dir, embedder):
    gen = current_generation(index_dir)
    vectors_file = gen / "vectors.faiss"
    _flip_keeping_mtime(vectors_file, 0)               # the first block is always sampled
    with pytest.raises(IndexCorrupt, match="fingerprint"):
        Searcher.open(index_dir, embedder=embedder)
    _flip_keeping_mtime(vectors_file, 0)
    Searcher.open(index_dir, embedder=embedder)        # restored: served again
    # a write that moves the mtime gets the full checksum, wherever it is
    store = gen / "passages.sqlite"
    offset = _unsampled_offset(store, read_manifest(gen)["files"]["passages.sqlite"]["sample"])
    data = bytearray(store.read_bytes())
    data[offset] ^= 0xFF
    store.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="checksum"):
        Searcher.open(index_dir, embedder=embedder)


def test_manifests_without_fingerprints_get_the_full_check(index_dir, embedder):
    gen = current_generation(index_dir)
    manifest = json.loads((gen / MANIFEST_FILE).read_text(encoding="utf-8"))
    for entry in manifest["files"].values():
        entry.pop("sample"), entry.pop("mtime_ns")
    (gen / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    store = gen / "passages.sqlite"
    _flip_keeping_mtime(store, store.stat().st_size // 2)
    with pytest.raises(IndexCorrupt, match="checksum"):
        Searcher.open(index_dir, embedder=embedder)


def test_a_server_stops_serving_a_build_that_fails_its_background_check(index_dir, wenda_env, tmp_path, run_wenda):
    gen = current_generation(index_dir)
    store = gen / "passages.sqlite"
    _flip_keeping_mtime(store, _unsampled_offset(store, read_manifest(gen)["files"]["passages.sqlite"]["sample"]))
    log = tmp_path / "serve.log"
    proc, base, _ = start_server(index_dir, wenda_env, log, {"WENDA_RELOAD_CHECK": "0.3"}, ready=False,
                                  forks=run_wenda)
    try:
        deadline, code = time.monotonic() + 120, None
        while time.monotonic() < deadline and code != "index_corrupt":
            r = httpx.get(f"{base}/readyz", timeout=10)
            code = r.json().get("error", {}).get("code") if r.status_code == 503 else None
            time.sleep(0.2)
        assert code == "index_corrupt"
        assert "ready: 5 documents" in log.read_text(encoding="utf-8")     # it did serve, then checked
        r = httpx.get(f"{base}/api/search", params={"q": "数字经济"}, timeout=10)
        assert r.status_code == 503 and r.json()["error"]["code"] == "index_corrupt"
        time.sleep(2)                                   # several reload checks later: said once
    finally:
        stop_server(proc)
    text = log.read_text(encoding="utf-8")
    assert text.count("failed its full check") == 1, text
