"""Adding and removing documents while serving: files are written into the corpus folder the
served index was built from, and one background build at a time brings the index up to date
(incrementally: unchanged documents are carried over). The server's reload check then switches
to the new generation. ``status()`` is what ``GET /api/index`` shows.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections import deque
from pathlib import Path, PurePosixPath

from wenda.indexer.corpus import SUFFIXES, unsafe_name
from wenda.indexer.errors import BadInput, InputTooLarge, NotFound, UnreadableDocument, WendaError
from wenda.indexer.readers.sniff import reader_kind

from .originals import corpus_root, inside

log = logging.getLogger("wenda.server")

# share of the progress bar each build stage fills (the rest: writing the index and reloading)
_STAGES = {"reading": (0.0, 0.2), "chunking": (0.2, 0.3), "tokenising": (0.3, 0.4), "embedding": (0.4, 0.95)}
_REFUSED_KEPT = 20


class _Bar:
    def __init__(self, jobs: "IndexJobs", stage: str, total: int) -> None:
        self._jobs = jobs
        with jobs._lock:
            jobs._progress = {"stage": stage, "done": 0, "total": total}

    def update(self, n: int) -> None:
        with self._jobs._lock:
            self._jobs._progress["done"] += n

    def close(self) -> None:
        pass


class IndexJobs:
    """The write side of the server: uploads, deletions and the background build they start."""

    def __init__(self, service) -> None:
        self._service = service
        self._lock = threading.Lock()
        self._pending = False
        self._thread: threading.Thread | None = None
        self._progress: dict = {"stage": None, "done": 0, "total": 0}
        self._started: float | None = None
        self._last_report: dict | None = None
        self._last_error: str | None = None
        self._refused: deque[dict] = deque(maxlen=_REFUSED_KEPT)

    # -- writes
    def check_upload(self, name: str, data: bytes) -> str:
        """The document id an upload is stored as, or a WendaError saying why it is refused
        (the refusal is also listed in ``status()["refused"]``)."""
        try:
            return self._check(name, data)
        except WendaError as exc:
            with self._lock:
                self._refused.append({"source": ascii(name)[1:-1] if unsafe_name(name) else name,
                                      "reason": str(exc)})
            raise

    def _check(self, name: str, data: bytes) -> str:
        problem = unsafe_name(name)
        if problem:
            raise BadInput(f"refused: {problem}")
        if any(part.startswith(".") for part in PurePosixPath(name).parts):
            raise BadInput("refused: hidden files (names starting with '.') are not indexed")
        if PurePosixPath(name).suffix.lower() not in SUFFIXES:
            raise UnreadableDocument(f"refused: wenda reads {', '.join(SUFFIXES)} files, not "
                                     f"{PurePosixPath(name).suffix or 'files without an extension'}")
        if not data:
            raise UnreadableDocument("refused: the file is empty")
        limit = self._service.settings.max_upload_bytes
        if len(data) > limit:
            raise InputTooLarge(f"refused: {len(data) / 2**20:.1f} MB is over the upload limit of "
                                f"{limit / 2**20:.0f} MB")
        try:
            reader_kind(data, name)          # content against extension: cheap, before storing anything
        except UnreadableDocument as exc:
            raise UnreadableDocument(f"refused: {exc}") from None
        return name

    def add(self, name: str, data: bytes) -> str:
        """Store an upload in the corpus folder (replacing a file of that name) and start a build."""
        source = self.check_upload(name, data)
        path = inside(corpus_root(self._service.get_searcher()), source)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        log.info("stored upload %s (%d bytes); updating the index", source, len(data))
        self.schedule()
        return source

    def remove(self, source: str) -> str:
        """Delete a document's file from the corpus folder and start a build."""
        searcher = self._service.get_searcher()
        path = inside(corpus_root(searcher), source)
        known = any(d["source"] == source for d in searcher.documents())
        if not path.is_file():
            if not known:
                raise NotFound(f"no document {source!r} in this index; see /api/documents")
        else:
            path.unlink()
        log.info("deleted %s; updating the index", source)
        self.schedule()
        return source

    # -- the build
    def schedule(self) -> None:
        """Ask for a build; one runs at a time, and writes during it get one more build after it."""
        with self._lock:
            self._pending = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="wenda-index", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                self._pending = False
                self._started = time.monotonic()
                self._progress = {"stage": "starting", "done": 0, "total": 0}
            report, error = None, None
            try:
                report = self._build()
            except WendaError as exc:
                error = str(exc)
                log.warning("updating the index failed: %s", exc)
            except Exception as exc:  # noqa: BLE001 - shown by /api/index, traceback to the log
                log.exception("updating the index failed")
                error = f"the build failed: {exc.__class__.__name__}; see the server log"
            with self._lock:
                self._started = None
                self._progress = {"stage": None, "done": 0, "total": 0}
                self._last_error = error
                if report is not None:
                    self._last_report = report

    def _build(self) -> dict:
        from .service import run_build

        service = self._service
        settings = service.settings
        searcher = service.get_searcher()
        root = corpus_root(searcher)
        report = run_build(settings, [root], progress=lambda stage, total: _Bar(self, stage, total),
                           wait=True, embedder=searcher.embedder)
        return report.as_dict()

    # -- what GET /api/index shows
    def status(self) -> dict:
        try:
            served = self._service.get_searcher().index.generation.name
        except WendaError:
            served = None
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            progress = dict(self._progress)
            report = self._last_report
            state = "building" if running else "idle"
            if state == "idle" and report and not report.get("up_to_date") and report.get("generation") != served:
                state = "loading"           # built; the server switches to it at its next reload check
            fraction = 1.0 if state == "idle" else 0.97 if state == "loading" else _fraction(progress)
            return {"state": state, "stage": progress["stage"] if running else None,
                    "done": progress["done"], "total": progress["total"], "fraction": round(fraction, 3),
                    "seconds": round(time.monotonic() - self._started, 1) if self._started else None,
                    "queued": self._pending, "serving": served, "last_report": report,
                    "last_error": self._last_error, "refused": list(self._refused)}


def _fraction(progress: dict) -> float:
    low, high = _STAGES.get(progress["stage"], (0.0, 0.0))
    if progress["stage"] not in _STAGES:
        return 0.95 if progress["stage"] not in (None, "starting") else 0.0
    share = progress["done"] / progress["total"] if progress["total"] else 1.0
    return low + (high - low) * min(1.0, share)
