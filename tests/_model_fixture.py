"""Session fixtures for the real bundled embedding model (no mocks, no network).

Import them into a test module: ``from tests._model_fixture import bundled_model_dir, embedder``.
The expanded folder lives under the session's pytest base temp dir and the loaded Embedder is
memoised here, so modules that import these fixtures share one expansion and one model load.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from wenda.indexer.bundled_model import ensure_bundled_model
from wenda.indexer.embed import Embedder

_loaded: dict[str, Embedder] = {}


def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "wenda-model-cache"


@pytest.fixture(scope="session")
def bundled_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The expanded multilingual-e5-small folder (expanded once per session)."""
    return ensure_bundled_model(_cache_dir(tmp_path_factory))


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory, bundled_model_dir: Path) -> Embedder:
    """The bundled default model loaded through ``Embedder.load`` (fp32)."""
    if "default" not in _loaded:
        _loaded["default"] = Embedder.load(None, _cache_dir(tmp_path_factory))
    return _loaded["default"]
