"""Session fixtures: the real model and the real seeds index, built once per test run.

The model is expanded into the user's wenda cache (WENDA_CACHE, else ~/.cache/wenda) so repeated
runs reuse it; the seeds index is built into a session temporary folder.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"



@pytest.fixture(scope="session")
def cache_dir() -> Path:
    from wenda.api.settings import Settings

    path = Settings.from_env().cache_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def embedder(cache_dir):
    from wenda.indexer.embed import Embedder

    return Embedder.load(None, cache_dir)


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory, cache_dir, embedder) -> Path:
    """A built index of seeds/ (read-only for tests: copy it before changing anything)."""
    from wenda.indexer.build import IndexSettings, build_index

    index_dir = tmp_path_factory.mktemp("seeds-index") / "index"
    build_index([SEEDS], index_dir, IndexSettings(), cache_dir, embedder=embedder)
    return index_dir


@pytest.fixture(scope="session")
def searcher(seeds_index, cache_dir, embedder):
    from wenda.search import Searcher

    return Searcher.open(seeds_index, cache_dir=cache_dir, embedder=embedder)


@pytest.fixture()
def index_copy(seeds_index, tmp_path) -> Path:
    """A private copy of the seeds index that a test may damage or rebuild."""
    dest = tmp_path / "index"
    shutil.copytree(seeds_index, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def wenda_env(cache_dir) -> dict:
    """Environment for running the `wenda` command in a subprocess."""
    env = dict(os.environ)
    env["WENDA_CACHE"] = str(cache_dir)
    # The installed package, not the source folders on sys.path: what a user runs.
    env.pop("PYTHONPATH", None)
    env.pop("WENDA_INDEX", None)
    env.pop("WENDA_MODEL", None)
    env.pop("WENDA_API_KEY", None)
    return env


@pytest.fixture(scope="session")
def wenda_cli() -> list[str]:
    """How to run the CLI from the tests: the installed script if present, else the module."""
    script = Path(sys.executable).parent / "wenda"
    return [str(script)] if script.exists() else [sys.executable, "-m", "wenda.api.cli"]
