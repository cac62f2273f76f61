"""Fallbacks say so: a degraded path logs a warning instead of running quietly."""
from __future__ import annotations

import builtins
import logging

import numpy as np
import pytest

from wenda.indexer import core_watch, xlmr
from wenda.indexer.embed import Embedder


def test_unreadable_proc_stat_is_reported_once(monkeypatch, caplog):
    real_open = builtins.open

    def no_proc_stat(path, *args, **kwargs):
        if str(path) == "/proc/stat":
            raise PermissionError(13, "Permission denied", "/proc/stat")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_proc_stat)
    with caplog.at_level(logging.WARNING, logger="wenda.threads"):
        watch = core_watch.CoreWatch()
        choices = [watch.threads() for _ in range(3)]
    assert choices == [1, 1, 1]
    warnings = [r for r in caplog.records if "/proc/stat" in r.getMessage()]
    assert len(warnings) == 1 and "one thread" in warnings[0].getMessage()


@pytest.mark.slow
def test_a_failing_direct_encoder_is_reported(monkeypatch, caplog, cache_dir, embedder):
    def broken(folder, load_weights=True):
        raise OSError("simulated: cannot map model.safetensors")

    monkeypatch.setattr(xlmr, "DirectEncoder", broken)
    with caplog.at_level(logging.WARNING, logger="wenda.embed"):
        fallback = Embedder.load(None, cache_dir)
    assert fallback._direct is None
    assert any("plain-torch encoder cannot load" in r.getMessage() and "simulated" in r.getMessage()
               for r in caplog.records)
    texts = ["浦东新区的集成电路产业", "人工智能创新应用先导区"]
    # the same vectors, only slower to start
    assert np.allclose(fallback.encode_documents(texts), embedder.encode_documents(texts), atol=1e-5)
