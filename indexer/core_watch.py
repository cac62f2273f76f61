"""How many threads one query should use: all cores when the other processes leave them idle,
one when they don't.

On a small shared machine this matters more than anything else about a query's speed: torch and
FAISS split a query over OpenMP threads that spin at each barrier while waiting for each other,
and when another process holds one core, the thread on it is descheduled and the spinning one
burns its time slice. Measured on the 2-core machine of bench/results.md, one query embedding:
2 threads 19 ms / 1 thread 24 ms with the other core idle, but 250-960 ms / 38 ms with both cores
busy elsewhere. So the choice is made per query from what the machine did in the last moment:
/proc/stat's busy time, less this process's own CPU time, over the time since the last look.
"""
from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger("wenda.threads")

_WINDOW = 0.05          # seconds: shorter intervals keep the previous decision
_OTHERS_MAX = 0.5       # busy cores of other processes that still leave a core "free"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class CoreWatch:
    def __init__(self) -> None:
        self.cores = _cores()
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._lock = threading.Lock()
        self._warned = False
        self._last = self._sample()
        self._threads = self.cores

    def _sample(self) -> tuple[float, float, float] | None:
        """(wall seconds, busy CPU-seconds of the machine, CPU-seconds of this process)."""
        try:
            with open("/proc/stat", "rb") as fh:
                fields = [int(x) for x in fh.readline().split()[1:9]]
        except (OSError, ValueError) as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot read /proc/stat (%s): every query runs on one thread", exc)
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        own = os.times()
        return time.monotonic(), (user + nice + system + irq + softirq + steal) / self._tick, own.user + own.system

    def threads(self) -> int:
        """Threads for the next query: ``cores`` if the others used under half a core lately, else 1."""
        if self.cores == 1:
            return 1
        with self._lock:
            now = self._sample()
            if now is None or self._last is None:
                return 1
            elapsed = now[0] - self._last[0]
            if elapsed >= _WINDOW:
                others = max(0.0, (now[1] - self._last[1]) - (now[2] - self._last[2])) / elapsed
                self._threads = self.cores if others < _OTHERS_MAX else 1
                self._last = now
            return self._threads


WATCH = CoreWatch()
