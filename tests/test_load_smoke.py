"""bench/load.py's core against a real `wenda serve` on 127.0.0.1: a few seconds, a few clients."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.slow
def test_load_smoke(seeds_index, wenda_env, wenda_cli, run_wenda, tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import load
    finally:
        sys.path.remove(str(BENCH))
    def start(args, env, log):          # forked from the warm process of the run_wenda fixture
        return run_wenda.start(args, env, log, cwd=BENCH.parent)

    with load.server(wenda_cli, seeds_index, wenda_env, tmp_path / "serve.log", start=start) as (proc, base):
        report = asyncio.run(load.run_load(base, clients=4, seconds=3, pid=proc.pid))
    assert report["errors"] == 0, report["error_kinds"]
    assert report["requests"] > 0 and report["latency_ms"]["all"]["n"] == report["requests"]
    assert all(s["rss_mb"] for s in report["rss_samples"])
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()
