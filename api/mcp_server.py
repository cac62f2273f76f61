"""wenda as an MCP tool server (official ``mcp`` SDK, ``MCPServer``), for chat assistants.

Tools (named, described and given their parameters in api/tools.py, shared with ``GET /api/tools``):

    search_corpus(query, k=5)            ranked passages with citations   -> {"query", "hits", "took_ms"}
    ask_corpus(question)                 extractive answer + citations    -> {"question", "found", "answer", ...}
    get_passage(passage_id, context=0)   a passage and its neighbours      -> {"passage", "before", "after"}
    list_documents(offset=0, limit=50)   what the corpus holds, a page     -> {"documents": [...], "total", ...}

Every result carries the JSON as structured content and a compact numbered text rendering
(``[1] source《title》 › section (第N段, 字符 start–end)`` + text) for text-only models. A bad
argument is a tool error (``is_error``) with wenda's one-line message; the session goes on.

Transports: ``run_stdio(settings)`` for ``wenda mcp``; ``create_mcp_http_app(get_searcher)`` for the
FastAPI app's ``/mcp`` (streamable HTTP).
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated, Any, NamedTuple

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from starlette.types import ASGIApp

from wenda.indexer.version import VERSION
from wenda.indexer.errors import WendaError

from . import tools as T
from .schemas import AskResponse, DocumentList, PassageResponse, SearchResponse

log = logging.getLogger("wenda.mcp")

SearcherProvider = Callable[[], Any]     # () -> search.Searcher
_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                             open_world_hint=False)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _error(exc: WendaError) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)


class _WendaMCP(MCPServer):
    """MCPServer with wenda's argument checking (one-line messages instead of pydantic reports)
    and tool descriptions that follow the index the searcher provider currently serves."""

    def __init__(self, get_searcher: SearcherProvider, **kwargs) -> None:
        super().__init__(**kwargs)
        self._get_searcher = get_searcher
        self._described: tuple[Any, dict[str, str]] | None = None

    def descriptions(self) -> dict[str, str]:
        """Tool descriptions for the index being served (recomputed after a reload)."""
        try:
            searcher = self._get_searcher()
        except WendaError:
            return T.tool_descriptions(summary="中文文章")
        index = searcher.index
        if self._described is None or self._described[0] is not index:
            self._described = (index, T.tool_descriptions(searcher))
        return self._described[1]

    async def list_tools(self):
        listed = await super().list_tools()
        descriptions = await anyio.to_thread.run_sync(self.descriptions)
        return [t.model_copy(update={"description": descriptions.get(t.name, t.description)}) for t in listed]

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        if name in T.TOOL_SPECS:
            try:
                arguments = T.check_arguments(name, arguments)
            except WendaError as exc:
                return _error(exc)
        return await super().call_tool(name, arguments, context)


def build_server(get_searcher: SearcherProvider) -> MCPServer:
    """The MCP server with wenda's four tools. ``get_searcher()`` is called for every tool call
    (so a shared, hot-reloading searcher can be handed in) and once here, to describe the corpus."""
    try:
        searcher = get_searcher()
        summary = T.corpus_summary(searcher.documents())
        max_k = searcher.max_k
    except WendaError as exc:       # e.g. still loading: list_tools describes it once it is there
        log.info("describing the corpus later: %s", exc)
        summary, max_k = "中文文章", 50
    descriptions = T.tool_descriptions(summary=summary)

    async def run(name: str, arguments: Mapping[str, Any]) -> CallToolResult:
        def work() -> dict:
            return T.run_tool(get_searcher(), name, arguments)

        try:
            result = await anyio.to_thread.run_sync(work)     # keep the event loop free
        except WendaError as exc:
            return _error(exc)
        return CallToolResult(content=[TextContent(type="text", text=T.render_result(name, result))],
                              structured_content=result)

    async def search_corpus(query: str, k: int = 5) -> Annotated[CallToolResult, SearchResponse]:
        return await run("search_corpus", {"query": query, "k": k})

    async def ask_corpus(question: str) -> Annotated[CallToolResult, AskResponse]:
        return await run("ask_corpus", {"question": question})

    async def get_passage(passage_id: str, context: int = 0) -> Annotated[CallToolResult, PassageResponse]:
        return await run("get_passage", {"passage_id": passage_id, "context": context})

    async def list_documents(offset: int = 0, limit: int = T.LIST_LIMIT) -> Annotated[CallToolResult, DocumentList]:
        return await run("list_documents", {"offset": offset, "limit": limit})

    functions = {f.__name__: f for f in (search_corpus, ask_corpus, get_passage, list_documents)}
    registered = []
    for spec in T.TOOLS:
        tool = Tool.from_function(functions[spec.name], name=spec.name, title=spec.title,
                                  description=descriptions[spec.name], annotations=_READ_ONLY)
        tool.parameters = T.parameters_schema(spec, max_k)     # the published schema: api/tools.py's
        registered.append(tool)

    instructions = (f"wenda 问答：本地语料库（{summary}）的检索与问答工具。回答有关这些文章的问题时，"
                    "先用 ask_corpus 或 search_corpus 找到原文，再按结果中的 [1]、[2] 编号引用来源；"
                    "found 为 false 表示语料中没有答案。")
    return _WendaMCP(get_searcher, name="wenda", title="wenda 问答", version=VERSION,
                     instructions=instructions, tools=registered, log_level="WARNING")


# -- stdio: `wenda mcp` -----------------------------------------------------------------------

def _reloading(searcher, every_s: float) -> SearcherProvider:
    """A provider that picks up a newer build of the index (`wenda index` while serving)."""
    lock = threading.Lock()
    last = [time.monotonic()]

    def provider():
        now = time.monotonic()
        if now - last[0] >= every_s and lock.acquire(blocking=False):
            try:
                last[0] = now
                searcher.reload_if_changed()
            except WendaError as exc:
                log.warning("keeping the loaded index: %s", exc)
            finally:
                lock.release()
        return searcher

    return provider


def run_stdio(settings) -> int:
    """Serve MCP on stdin/stdout until the client closes it. stdout carries only the protocol:
    anything printed while the model and index load goes to stderr, as do all logs."""
    from .service import open_searcher, where_indexed

    with contextlib.redirect_stdout(sys.stderr):
        searcher = open_searcher(settings)
        server = build_server(_reloading(searcher, settings.reload_check_s))
    log.info("serving MCP on stdio: %d documents from %s", len(searcher.documents()), where_indexed(settings))
    try:
        anyio.run(server.run_stdio_async)
    except KeyboardInterrupt:
        pass
    return 0


# -- streamable HTTP: /mcp in the FastAPI app -------------------------------------------------

class MCPHttpApp(NamedTuple):
    app: ASGIApp                                                       # the /mcp endpoint
    lifespan: Callable[[], contextlib.AbstractAsyncContextManager[None]]  # run inside the app's lifespan
    server: MCPServer


def create_mcp_http_app(get_searcher: SearcherProvider, *, host: str | None = "127.0.0.1",
                        allowed_origins: tuple[str, ...] | list[str] = ()) -> MCPHttpApp:
    """MCP over streamable HTTP (stateless, JSON responses), for the FastAPI app to serve at ``/mcp``.

    Mount it like this (both steps are needed):

        mcp = create_mcp_http_app(lambda: <the shared searcher>, host=settings.host,
                                  allowed_origins=settings.cors_origins)

        @contextlib.asynccontextmanager
        async def lifespan(app):
            async with mcp.lifespan():          # starts the SDK's session manager (its task group)
                yield

        app = FastAPI(lifespan=lifespan)
        app.add_route("/mcp", mcp.app, include_in_schema=False)     # exact path /mcp, all methods

    ``mcp.app`` is a plain ASGI app that ignores the path, so ``app.add_route("/mcp", ...)`` serves
    ``/mcp`` exactly (``/mcp/`` is redirected there by Starlette). Don't ``app.mount()`` the SDK's own
    Starlette app: its lifespan would not run inside FastAPI's. ``mcp.lifespan()`` can be entered
    once per ``create_mcp_http_app`` call; every request before it is entered (or after it exits)
    fails, so create a fresh one per app instance. Put the API-key check in front of ``/mcp``
    (middleware) -- this app does no authentication.

    ``host`` is the address the server listens on: for a loopback address (the default), requests
    whose ``Host`` header is not 127.0.0.1/localhost/[::1] (any port) get 421 and cross-site
    ``Origin`` headers other than those hosts and ``allowed_origins`` get 403 (DNS-rebinding
    protection). ``host=None`` or a non-loopback address turns the check off (e.g. for Starlette's
    TestClient, whose Host is ``testserver``).
    """
    server = build_server(get_searcher)
    security = None
    if host is not None and host in _LOOPBACK:
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*"],
            allowed_origins=["http://127.0.0.1", "http://127.0.0.1:*", "http://localhost", "http://localhost:*",
                             "http://[::1]", "http://[::1]:*", *allowed_origins])
    else:
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    # Builds the session manager (the returned Starlette app itself is not used).
    server.streamable_http_app(stateless_http=True, json_response=True, transport_security=security)
    manager = server.session_manager

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with manager.run():
            yield

    return MCPHttpApp(StreamableHTTPASGIApp(manager), lifespan, server)
