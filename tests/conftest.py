"""Session fixtures: the real model and the real seeds index, built once per test run.

The model is expanded into the user's wenda cache (WENDA_CACHE, else ~/.cache/wenda) so repeated
runs reuse it; the seeds index is built into a session temporary folder.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
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


class WendaForks:
    """Runs `wenda ARGS` as a child forked from one process that did the CLI's imports once
    (tests/_wenda_forks.py): the CLI's own main(), its exit status, stdout and stderr, without
    paying the imports and jieba's dictionary per command."""

    def __init__(self, env: dict, work: Path) -> None:
        self._env = env
        self._work = work
        self._runs = 0
        self._proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("_wenda_forks.py"))], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self._proc.stdout.readline()
        assert "ready" in ready, "the fork server did not start"

    def __call__(self, args: list[str], env: dict | None = None, cwd: Path | None = None,
                 timeout: float = 300) -> subprocess.CompletedProcess:
        self._runs += 1
        out, err = self._work / f"run{self._runs}.out", self._work / f"run{self._runs}.err"
        job = {"args": [str(a) for a in args], "env": env if env is not None else self._env, "replace_env": True,
               "log": str(out), "stderr": str(err), "cwd": str(cwd) if cwd else None, "kill_after": timeout}
        self._proc.stdin.write(json.dumps([job]) + "\n")
        self._proc.stdin.flush()
        json.loads(self._proc.stdout.readline())            # the child's pid
        (code,) = json.loads(self._proc.stdout.readline())     # -9: killed (its fault hook, or the timeout)
        return subprocess.CompletedProcess(["wenda", *job["args"]], code, out.read_text("utf-8", errors="replace"),
                                           err.read_text("utf-8", errors="replace"))

    def start(self, args: list[str], env: dict, log: Path, cwd: Path | None = None) -> "ForkedProcess":
        """`wenda ARGS` running in the background (a server), its stdout and stderr in ``log``."""
        job = {"args": [str(a) for a in args], "env": env, "replace_env": True, "log": str(log),
               "cwd": str(cwd) if cwd else None}
        return ForkedProcess(self, self._ask({"start": job}))

    def _ask(self, request: dict):
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        return json.loads(self._proc.stdout.readline())

    def close(self) -> None:
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()


@pytest.fixture(scope="session")
def run_wenda(wenda_env, tmp_path_factory):
    """``run_wenda(args, env=None, cwd=None)`` -> CompletedProcess of `wenda ARGS` (see WendaForks);
    ``env`` is the child's whole environment (default: wenda_env)."""
    forks = WendaForks(wenda_env, tmp_path_factory.mktemp("wenda-runs"))
    yield forks
    forks.close()


class ForkedProcess:
    """What the tests use of a subprocess.Popen, for a child of WendaForks."""

    def __init__(self, forks: WendaForks, pid: int) -> None:
        self._forks, self.pid, self.returncode = forks, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._forks._ask({"poll": self.pid})
        return self.returncode

    def wait(self, timeout: float = 300) -> int:
        if self.returncode is None:
            self.returncode = self._forks._ask({"wait": self.pid, "timeout": timeout})
            if self.returncode is None:
                raise subprocess.TimeoutExpired(["wenda", str(self.pid)], timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
