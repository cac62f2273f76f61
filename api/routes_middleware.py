"""The HTTP layer's edges: errors in the contract's shape, the access log, the body-size limit
and the API-key check for mounted apps (/mcp).

Every error leaves as ``{"error": {"code": "...", "message": "..."}}``: wenda's own exceptions
(mapped by their ``http_status``/``code``), FastAPI's validation errors, Starlette's 404/405, and
anything unexpected (logged with its traceback here, a generic 500 for the client).
"""
from __future__ import annotations

import hmac
import logging
import time
from http import HTTPStatus
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wenda.indexer.errors import Unauthorized, WendaError

access_log = logging.getLogger("wenda.http")


_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 406: "not_acceptable", 413: "too_large", 415: "unsupported_media_type",
          422: "validation_error", 429: "too_many_requests", 500: "internal_error", 503: "not_ready"}
_MESSAGES = {404: "no such page or endpoint; see /docs for the API",
             405: "this method is not allowed here; see /docs for the API"}
UNAUTHORIZED_MESSAGE = "this server needs an API key: send the header 'Authorization: Bearer <key>'"


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def _raw_error(send: Send, status: int, code: str, message: str, headers: dict | None = None) -> None:
    """An error response sent straight from ASGI middleware (outside FastAPI's handlers)."""
    response = error_response(status, code, message, headers)
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


# -- exception handlers ----------------------------------------------------------------------

async def _wenda_error(request: Request, exc: WendaError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    message = str(exc) or HTTPStatus(exc.http_status).phrase
    return error_response(exc.http_status, exc.code, message, headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else None
    if status in _MESSAGES or not detail or detail == HTTPStatus(status).phrase:
        message = _MESSAGES.get(status) or HTTPStatus(status).phrase
    else:
        message = detail
    return error_response(status, _CODES.get(status, "http_error"), message, dict(exc.headers or {}))


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors()[:5]:
        kind = err.get("type")
        if kind == "json_invalid":
            problems.append(f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'decode error')})")
        elif kind == "extra_forbidden":
            problems.append(f"unknown field {_location(err['loc'])!r}")
        elif kind == "missing":
            problems.append(f"{_location(err['loc'])}: required")
        elif kind in ("model_attributes_type", "dict_type") and tuple(err["loc"]) == ("body",):
            problems.append("the body must be a JSON object")
        else:
            problems.append(f"{_location(err['loc'])}: {err.get('msg', 'invalid')}")
    return error_response(422, "validation_error", "; ".join(problems) or "the request is not valid")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WendaError, _wenda_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


# -- middleware (pure ASGI: no buffering of responses, streaming stays streaming) ------------

def _path_for_log(scope: Scope) -> str:
    """The path with the query string's names only: values (questions, keys) are never logged.
    Control characters are escaped (no forged log lines) and long paths cut."""
    path = scope.get("path", "")
    raw = scope.get("query_string", b"").decode("latin-1")
    if raw:
        names = dict.fromkeys(name for name, _ in parse_qsl(raw, keep_blank_values=True))
        path += "?" + "&".join(names)
    if len(path) > 300:
        path = path[:300] + "…"
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in path)


class AccessLogMiddleware:
    """One log line per request (method, path, status, latency), and the catch-all for errors
    nothing else handled: traceback to the log, a generic JSON 500 to the client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        except Exception:  # noqa: BLE001 - the catch-all: never a traceback to the client
            access_log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if status == 0:
                status = 500
                await _raw_error(send, 500, "internal_error", "internal server error; the details are in the server log")
        finally:
            ms = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %.1f ms", scope.get("method"), _path_for_log(scope), status, ms)


class BodyLimitMiddleware:
    """413 for a request body over ``max_bytes``: by its Content-Length before reading anything,
    and by the bytes actually received (chunked bodies, lying headers). Bodies are small here, so
    the body is read whole and handed on."""

    _NO_BODY = ("GET", "HEAD", "OPTIONS", "DELETE")

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}      # (method, path) -> its own limit (uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.larger.get((scope["method"], scope["path"]), self.max_bytes)
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                await _raw_error(send, 400, "bad_request", "the Content-Length header is not a number")
                return
            if int(length) > limit:
                await self._too_large(send, limit)
                return
        elif scope["method"] in self._NO_BODY and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._too_large(send, limit)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, limit: int) -> None:
        await _raw_error(send, 413, "too_large", f"the request body is larger than the limit of {limit} bytes")


def bearer_ok(authorization: str | None, api_key: str) -> bool:
    """Whether an Authorization header carries ``Bearer <api_key>`` (constant-time comparison)."""
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode("utf-8"), api_key.encode("utf-8"))


class ApiKeyGuard:
    """Wraps an ASGI app (the /mcp endpoint) so it needs ``Authorization: Bearer <key>`` when an
    API key is configured. Routes under /api use the ``require_api_key`` dependency instead."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and self.api_key
                and not bearer_ok(Headers(scope=scope).get("authorization"), self.api_key)):
            await _raw_error(send, 401, "unauthorized", UNAUTHORIZED_MESSAGE, {"WWW-Authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)
