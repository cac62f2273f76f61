"""`wenda serve`: the FastAPI app (JSON API, web page, MCP at /mcp) and its uvicorn runner.

    from wenda.api.server import create_app
    app = create_app(Settings.from_env())          # loads the index in the background
    app = create_app(settings, searcher=searcher)  # or serve an already-open Searcher

One Searcher per process, shared. Searches and answers are CPU-bound: they run on a few worker
threads (as many as the cores allow for torch's thread count, usually one), and requests that
arrive together are answered in one batch (one model call for all their queries) instead of
fighting over the cores. A background task picks up a newer `wenda index` build without a restart.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from wenda.indexer.version import VERSION
from wenda.indexer.errors import IndexCorrupt, IndexMissing, WendaError

from .routes_middleware import (AccessLogMiddleware, ApiKeyGuard, BodyLimitMiddleware, NotReady, RequestTimeout,
                                error_response, install_error_handlers)
from .settings import Settings

log = logging.getLogger("wenda.server")
STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_BATCH = 16


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
        self.cpu = threading.BoundedSemaphore(cpu_slots(settings))
        self.runner = QueryRunner(self.get_searcher, self.cpu, cpu_slots(settings))

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
        from .cli import open_searcher

        try:
            searcher = open_searcher(self.settings)
        except WendaError as exc:
            if str(exc) != str(self.error):         # retried every reload_check_s: say it once
                log.error("cannot serve the index in %s: %s", self.settings.index_dir, exc)
            self.error = exc
            return
        except Exception as exc:  # noqa: BLE001 - reported by /readyz, traceback to the log
            log.exception("loading the index failed")
            self.error = WendaError(f"loading the index failed: {exc.__class__.__name__}; see the server log")
            return
        self._searcher, self.error = searcher, None
        log.info("ready: %d documents, %d passages from %s (build %s)", len(searcher.documents()),
                 searcher.index.manifest["counts"]["passages"], self.settings.index_dir, searcher.index.generation.name)

    def check_for_new_build(self) -> None:
        """Called every reload_check_s: switch to a newer build, or retry a failed first load once
        an index exists."""
        if self._searcher is None:
            if isinstance(self.error, (IndexMissing, IndexCorrupt)):
                self.start_loading()        # the error stays visible until a load succeeds
            return
        try:
            self._searcher.reload_if_changed()
        except WendaError as exc:
            log.warning("keeping the loaded index: %s", exc)

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


class MCPEndpoint:
    """/mcp: the MCP streamable-HTTP app of api/mcp_server.py. Its session manager runs once per
    instance, so each run of the app's lifespan makes a fresh one (TestClient, schemathesis and
    uvicorn reloads may run the lifespan more than once)."""

    def __init__(self, service: Service, settings: Settings) -> None:
        from .mcp_server import create_mcp_http_app

        self._create = lambda: create_mcp_http_app(service.bounded_searcher, host=settings.host,
                                                   allowed_origins=settings.cors_origins)
        self._current = None

    @contextlib.asynccontextmanager
    async def running(self):
        mcp = self._create()
        async with mcp.lifespan():
            self._current = mcp.app
            try:
                yield
            finally:
                self._current = None

    async def __call__(self, scope, receive, send) -> None:
        if self._current is None:
            if scope["type"] == "http":
                await error_response(503, "not_ready", "MCP is not running (the app's lifespan has not started)")(
                    scope, receive, send)
            return
        await self._current(scope, receive, send)


def _mcp(service: Service, settings: Settings) -> MCPEndpoint | None:
    try:
        return MCPEndpoint(service, settings)
    except ImportError as exc:
        log.warning("MCP over HTTP is not available: %s", exc)
        return None


def create_app(settings: Settings, searcher=None) -> FastAPI:
    """The wenda web app. With ``searcher``, it serves that one; without, it opens
    ``settings.index_dir`` in the background at start-up (/readyz says when it is ready)."""
    from .routes_api import api_router, DESCRIPTION, page_router, TAGS

    service = Service(settings, searcher)
    mcp = _mcp(service, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start_loading()
        reload_task = asyncio.create_task(_reload_loop(service, settings.reload_check_s))
        try:
            async with (mcp.running() if mcp else contextlib.nullcontext()):
                yield
        finally:
            reload_task.cancel()
            service.runner.stop()

    app = FastAPI(title="wenda 问答 API", version=VERSION, description=DESCRIPTION, openapi_tags=TAGS,
                  docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.state.wenda = service
    install_error_handlers(app)
    app.include_router(page_router)
    app.include_router(api_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if mcp is not None:
        app.add_route("/mcp", ApiKeyGuard(mcp, settings.api_key), include_in_schema=False)
    # outermost last: access log (and catch-all) > CORS > body limit > routes
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "OPTIONS"], max_age=600,
                           allow_headers=["Authorization", "Content-Type", "Mcp-Protocol-Version", "Mcp-Session-Id"])
    app.add_middleware(AccessLogMiddleware)
    return app


async def _reload_loop(service: Service, every_s: float) -> None:
    while True:
        await asyncio.sleep(max(every_s, 0.1))
        try:
            await anyio.to_thread.run_sync(service.check_for_new_build)
        except Exception:  # noqa: BLE001 - keep checking; the loaded index stays in service
            log.exception("checking for a new index build failed")


def uvicorn_config(settings: Settings, app) -> "uvicorn.Config":
    """How `wenda serve` runs ``app``: our h11 protocol (raw UTF-8 request lines; 414/431 as JSON
    for heads too long), with h11's own head limit above ours and room for the longest query."""
    import uvicorn

    from .http_edge import h11_event_limit, request_line_limit, utf8_target_protocol

    line_limit = request_line_limit(settings.max_query_chars)
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                          server_header=False, timeout_graceful_shutdown=5, lifespan="on",
                          http=utf8_target_protocol(line_limit), h11_max_incomplete_event_size=h11_event_limit(line_limit))


def serve(settings: Settings) -> int:
    """Run the app with uvicorn until SIGINT/SIGTERM; 0 after a clean shutdown."""
    import uvicorn

    for name in ("wenda.http", "wenda.server"):
        logging.getLogger(name).setLevel(logging.INFO)

    class _Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:
                host = f"[{settings.host}]" if ":" in settings.host else settings.host
                print(f"wenda: serving http://{host}:{settings.port}/  (API docs at /docs; "
                      f"/readyz says when {settings.index_dir} is loaded)", file=sys.stderr, flush=True)

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            # A signal asks for a clean stop: exit 0 afterwards instead of re-raising it.
            getattr(self, "_captured_signals", []).clear()

    config = uvicorn_config(settings, create_app(settings))
    server = _Server(config)
    try:
        server.run()
    except SystemExit as exc:       # uvicorn exits 3 when it cannot start (it has said why): ours is 1
        return 0 if exc.code in (None, 0) else 1
    return 0 if server.started else 1
