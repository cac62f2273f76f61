"""What every surface shares: the opened Searcher, the worker threads that run queries, and the
static folder of the web page. The CLI, the HTTP app and the MCP server all open the index here.

Searches and answers are CPU-bound: they run on a few worker threads (as many as the cores allow
for torch's thread count, usually one), and requests that arrive together are answered in one
batch (one model call for all their queries) instead of fighting over the cores.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread

from wenda.indexer.errors import BackendUnavailable, IndexCorrupt, IndexMissing, NotReady, RequestTimeout, WendaError
from wenda.indexer.manifest import build_identity

from .settings import Settings

log = logging.getLogger("wenda.server")
STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_BATCH = 16


def open_searcher(settings: Settings, embedder=None):
    """The Searcher of ``settings``' index (the local folder or the Milvus collection), for any surface."""
    from wenda.search import Searcher

    limits = {"model": settings.model, "cache_dir": settings.cache_dir, "threads": settings.threads,
              "query_engine": settings.query_engine,
              "max_query_chars": settings.max_query_chars, "max_k": settings.max_k, "embedder": embedder}
    if settings.backend == "milvus":
        from wenda.search.milvus_index import MilvusIndex

        return Searcher.over(MilvusIndex.open(settings.milvus_target()), **limits)
    return Searcher.open(settings.index_dir, **limits)


def where_indexed(settings: Settings) -> str:
    """The index ``settings`` name, for messages: the folder or the Milvus collection."""
    return settings.milvus_target().describe() if settings.backend == "milvus" else str(settings.index_dir)


def run_build(settings: Settings, paths: list[Path], rebuild: bool = False, progress=None, wait: bool = False,
              embedder=None, index_settings=None, from_index: Path | None = None, crash_at_step: int | None = None):
    """`wenda index` into the backend ``settings`` choose; the BuildReport."""
    from wenda.indexer.build import IndexSettings, build_index
    from wenda.indexer.progress import NO_PROGRESS

    index_settings = index_settings or IndexSettings(model=settings.model, user_dict=settings.user_dict,
                                                     embed_precision=settings.embed_precision)
    common = {"progress": progress or NO_PROGRESS, "crash_at_step": crash_at_step, "threads": settings.threads,
              "embedder": embedder}
    if settings.backend == "milvus":
        from wenda.indexer.backends.milvus_build import MilvusBuilder

        builder = MilvusBuilder(settings.milvus_target(), index_settings, settings.cache_dir, **common)
        if from_index is not None:
            return builder.copy_local(from_index, rebuild=rebuild)
        return builder.build(paths, rebuild=rebuild)
    if from_index is not None:
        from wenda.indexer.errors import BadInput

        raise BadInput("--from-index copies a local index into Milvus: add --backend milvus --milvus-uri URI")
    return build_index(paths, settings.index_dir, index_settings, settings.cache_dir, rebuild=rebuild, wait=wait,
                       **common)


def corpus_of(settings: Settings, given: list[Path]) -> list[Path]:
    """What `wenda index` indexes: ``given``, else the corpus the index records, else the seeds."""
    if settings.backend == "milvus":
        from wenda.indexer.backends.milvus_build import recorded_milvus_corpus

        return given or recorded_milvus_corpus(settings.milvus_target()) or list(settings.corpus_paths)
    from wenda.indexer.build import corpus_to_index

    return corpus_to_index(settings.index_dir, given, list(settings.corpus_paths))


def _identity(generation) -> tuple:
    """What tells one served build from another: a local build folder's identity, or the name of a
    Milvus revision (search/backend.py: ``generation``)."""
    return build_identity(generation) if isinstance(generation, Path) else (generation.name,)


def cpu_slots(settings: Settings) -> int:
    """How many searches may run at once: the cores divided by torch's threads per search."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, settings.threads or cores))


@dataclass
class _Job:
    kind: str                                   # "search" or "ask"
    query: str
    k: int
    doc: str | None
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)

    @property
    def key(self) -> tuple:
        return (self.kind, self.k, self.doc)


class QueryRunner:
    """Worker threads that run searches and answers, batching the compatible requests waiting in
    the queue (same kind, k and doc filter) into one ``search_batch``/``ask_batch`` call."""

    def __init__(self, get_searcher: Callable[[], Any], cpu: threading.BoundedSemaphore, workers: int) -> None:
        self._get_searcher = get_searcher
        self._cpu = cpu
        self._workers = workers
        self._jobs: deque[_Job] = deque()
        self._cv = threading.Condition()
        self._generation = 0            # workers of an older generation stop
        self._running = False

    def submit(self, kind: str, query: str, k: int, doc: str | None) -> concurrent.futures.Future:
        job = _Job(kind, query, k, doc)
        with self._cv:
            if not self._running:       # started on first use (and again after a stop)
                self._running = True
                for i in range(self._workers):
                    threading.Thread(target=self._work, args=(self._generation,), name=f"wenda-search-{i}",
                                     daemon=True).start()
            self._jobs.append(job)
            self._cv.notify()
        return job.future

    def stop(self) -> None:
        """Let the workers finish what they run, cancel what waits (the app is shutting down)."""
        with self._cv:
            self._generation += 1
            self._running = False
            for job in self._jobs:
                job.future.cancel()
            self._jobs.clear()
            self._cv.notify_all()

    def _take(self, generation: int) -> list[_Job]:
        with self._cv:
            while not self._jobs and generation == self._generation:
                self._cv.wait()
            if generation != self._generation:
                return []
            first = self._jobs.popleft()
            batch, rest = [first], deque()
            while self._jobs:
                job = self._jobs.popleft()
                (batch if job.key == first.key and len(batch) < MAX_BATCH else rest).append(job)
            self._jobs = rest
            return batch

    def _work(self, generation: int) -> None:
        while True:
            batch = self._take(generation)
            if not batch:
                return
            batch = [job for job in batch if job.future.set_running_or_notify_cancel()]   # drop timed-out ones
            if batch:
                with self._cpu:
                    self._run(batch)

    def _run(self, batch: list[_Job]) -> None:
        first = batch[0]
        try:
            searcher = self._get_searcher()
            call = searcher.search_batch if first.kind == "search" else searcher.ask_batch
            results = call([job.query for job in batch], k=first.k, doc=first.doc)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
            if len(batch) == 1:
                first.future.set_exception(exc)
                return
            for job in batch:           # one bad query must not fail its batch-mates
                self._run([job])
            return
        for job, result in zip(batch, results):
            job.future.set_result(result)


class _BoundedSearcher:
    """The shared Searcher as seen by MCP tool calls: searches and answers take a CPU slot too."""

    def __init__(self, searcher, cpu: threading.BoundedSemaphore) -> None:
        self._searcher = searcher
        self._cpu = cpu

    def __getattr__(self, name: str):
        value = getattr(self._searcher, name)
        if name in ("search", "search_batch", "ask", "ask_batch"):
            def bounded(*args, **kwargs):
                with self._cpu:
                    return value(*args, **kwargs)
            return bounded
        return value


class Service:
    """What the routes share: the Searcher (loaded in the background unless given), the worker
    threads and the settings."""

    def __init__(self, settings: Settings, searcher=None) -> None:
        self.settings = settings
        self._searcher = searcher
        self.error: WendaError | None = None
        self._loading: threading.Thread | None = None
        # Opening checks sizes and quick fingerprints; every byte is read here, in the background,
        # once per served build. A build that fails it is remembered and not served again.
        self._verified: Path | None = None
        self._verifying: threading.Thread | None = None
        self._failed_check: tuple | None = None
        self.cpu = threading.BoundedSemaphore(cpu_slots(settings))
        self.runner = QueryRunner(self.get_searcher, self.cpu, cpu_slots(settings))

    @functools.cached_property
    def index_jobs(self):
        """Uploads, deletions and the background build they start (api/index_jobs.py)."""
        from .index_jobs import IndexJobs

        return IndexJobs(self)

    # -- the searcher
    def get_searcher(self):
        if self._searcher is not None:
            return self._searcher
        if self.error is not None:      # a fresh exception each time: requests run concurrently
            raise type(self.error)(str(self.error))
        raise NotReady("the index and the model are still loading; try again in a few seconds")

    def bounded_searcher(self):
        return _BoundedSearcher(self.get_searcher(), self.cpu)

    def start_loading(self) -> None:
        if self._searcher is None and (self._loading is None or not self._loading.is_alive()):
            self._loading = threading.Thread(target=self._load, name="wenda-load", daemon=True)
            self._loading.start()

    def _load(self) -> None:
        try:
            searcher = open_searcher(self.settings)
            searcher.prepare_answers()
        except WendaError as exc:
            if str(exc) != str(self.error):         # retried every reload_check_s: say it once
                log.error("cannot serve the index in %s: %s", where_indexed(self.settings), exc)
            self.error = exc
            return
        except Exception as exc:  # noqa: BLE001 - reported by /readyz, traceback to the log
            log.exception("loading the index failed")
            self.error = WendaError(f"loading the index failed: {exc.__class__.__name__}; see the server log")
            return
        if _identity(searcher.index.generation) == self._failed_check:
            searcher.index.close()
            return                          # self.error still says why
        self._searcher, self.error = searcher, None
        log.info("ready: %d documents, %d passages from %s (build %s)", len(searcher.documents()),
                 searcher.index.manifest["counts"]["passages"], where_indexed(self.settings), searcher.index.generation.name)

    def check_for_new_build(self) -> None:
        """Called every reload_check_s: switch to a newer build, or retry a failed first load once
        an index exists."""
        if self._searcher is None:
            if isinstance(self.error, (IndexMissing, IndexCorrupt, BackendUnavailable)):
                self.start_loading()        # the error stays visible until a load succeeds
            return
        try:
            self._searcher.reload_if_changed()
        except WendaError as exc:
            log.warning("keeping the loaded index: %s", exc)
        self._verify_in_background()

    def _verify_in_background(self) -> None:
        searcher = self._searcher
        if (searcher is None or searcher.index.generation == self._verified
                or (self._verifying is not None and self._verifying.is_alive())):
            return
        self._verifying = threading.Thread(target=self._verify, args=(searcher,), name="wenda-verify", daemon=True)
        self._verifying.start()

    def _verify(self, searcher) -> None:
        try:
            checked = searcher.verify_full()
        except IndexCorrupt as exc:
            gen = searcher.index.generation
            log.error("the served index build %s failed its full check, no longer serving it: %s", gen.name, exc)
            self._failed_check = _identity(gen)
            if self._searcher is searcher:
                self._searcher, self.error = None, exc
            return
        self._verified = checked.generation

    # -- running work within the time budget
    async def query(self, kind: str, query: str, k: int, doc: str | None):
        """A search or an extractive answer, batched with others, within request_timeout_s."""
        future = self.runner.submit(kind, query, k, doc)
        return await self._within(asyncio.wrap_future(future), self.settings.request_timeout_s, future.cancel)

    async def call(self, fn: Callable[[], Any], timeout: float | None = None):
        """Other index work (documents, passages, LLM answers) on the thread pool, within budget."""
        return await self._within(anyio.to_thread.run_sync(fn, abandon_on_cancel=True),
                                  timeout or self.settings.request_timeout_s)

    @staticmethod
    async def _within(awaitable, timeout: float, on_timeout: Callable[[], Any] | None = None):
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except TimeoutError:
            if on_timeout is not None:
                on_timeout()
            raise RequestTimeout(f"the request took longer than the server's limit of {timeout:g} s; "
                                 "try again, or ask a shorter question") from None
