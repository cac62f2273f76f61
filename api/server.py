"""`wenda serve`: the FastAPI app (JSON API, web page, MCP at /mcp) and its uvicorn runner.

    from wenda.api.server import create_app
    app = create_app(Settings.from_env())          # loads the index in the background
    app = create_app(settings, searcher=searcher)  # or serve an already-open Searcher

One Searcher per process, shared through api/service.py. A background task picks up a newer
`wenda index` build without a restart.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from wenda.indexer.version import VERSION

from .routes_middleware import (AccessLogMiddleware, ApiKeyGuard, BodyLimitMiddleware, error_response,
                                install_error_handlers)
from .service import STATIC_DIR, Service, where_indexed
from .settings import Settings

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("wenda.server")


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
    from .routes_documents import router as documents_router

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
    app.include_router(documents_router)        # before api_router: its /api/documents/{source} takes any path
    app.include_router(api_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if mcp is not None:
        app.add_route("/mcp", ApiKeyGuard(mcp, settings.api_key), include_in_schema=False)
    # outermost last: access log (and catch-all) > CORS > body limit > routes
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       larger={("POST", "/api/documents"): settings.max_upload_bytes + 64 * 1024})
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE", "OPTIONS"], max_age=600,
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
                      f"/readyz says when {where_indexed(settings)} is loaded)", file=sys.stderr, flush=True)

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
