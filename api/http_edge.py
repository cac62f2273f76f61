"""The HTTP connection's edge, below FastAPI: uvicorn's h11 protocol taking request lines with raw
UTF-8 in them, and refusing request heads that are too long with the JSON error body (414, 431)
instead of a reset connection.

`curl 'http://127.0.0.1:8000/api/search?q=徐汇区…'` sends the Chinese query as raw UTF-8 bytes
(browsers percent-encode it); h11, like llhttp, accepts only ASCII there and answers 400. The
request line, and only the request line, is percent-encoded before h11 parses it: what a browser
would have sent. Header values keep their bytes as sent.

Bytes may arrive in any split (one byte per read, the head over several reads), so the protocol
follows where in the request head each byte falls: the request line, the header lines, or past the
head (the body, which h11 frames). Known limit: a pipelined request whose head arrives in the same
read as the previous request's body is handed to h11 unchanged (no client that sends raw UTF-8
pipelines).
"""
from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("wenda.http")

HEADERS_LIMIT = 64 * 1024           # bytes of header lines in one request (cookies, tokens)
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_END_OF_HEAD = re.compile(rb"\n\r?\n")
_DISCARD_LIMIT = 16 * 1024 * 1024   # past this much of a refused head, stop reading and close

_LINE, _HEADERS, _BODY, _REFUSED = "line", "headers", "body", "refused"


def request_line_limit(max_query_chars: int) -> int:
    """Bytes a request line may have: room for a query of ``max_query_chars`` characters, each up
    to 12 bytes percent-encoded (4 UTF-8 bytes), a doc filter and the rest of the URL."""
    return max(16 * 1024, 12 * max_query_chars + 8 * 1024)


def h11_event_limit(line_limit: int) -> int:
    """h11's own limit on an incomplete head: above ours, so that ours answers first."""
    return line_limit + HEADERS_LIMIT + 4096


def json_error(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response with the contract's error body; the connection closes after it."""
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode("utf-8")
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "x-content-type-options: nosniff\r\n"
            "connection: close\r\n\r\n")
    return head.encode("ascii") + body


def utf8_target_protocol(line_limit: int, headers_limit: int = HEADERS_LIMIT) -> type[H11Protocol]:
    """uvicorn's h11 protocol with raw UTF-8 request lines re-encoded and over-long heads refused."""

    class UTF8TargetH11Protocol(H11Protocol):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._begin_head(b"")

        def _begin_head(self, seen: bytes) -> None:
            """A new request starts; ``seen`` are its bytes h11 already holds (pipelining)."""
            self._phase, self._count, self._tail, self._discarded = _LINE, 0, b"", 0
            if seen:
                self._follow(seen)

        def data_received(self, data: bytes) -> None:
            if self._phase is _REFUSED:
                self._discard(data)
                return
            if self._phase is _BODY and self.conn.their_state is h11.IDLE:
                self._begin_head(self.conn.trailing_data[0])     # h11 has started the next request
            data = self._follow(data)
            if data:
                super().data_received(data)

        def _follow(self, data: bytes) -> bytes:
            """Track the head through ``data``; return the bytes for h11 (request line re-encoded)."""
            out = []
            while data and self._phase is _LINE:
                end = data.find(b"\n")
                piece, data = (data, b"") if end < 0 else (data[:end + 1], data[end + 1:])
                piece = _NON_ASCII.sub(lambda m: b"%%%02X" % m.group()[0], piece)
                self._count += len(piece)
                if self._count > line_limit:
                    return self._refuse(414, "uri_too_long",
                                        f"the URL is longer than the server's limit of {line_limit} bytes; "
                                        "shorten the query", piece + data)
                out.append(piece)
                if end >= 0:
                    self._phase, self._count, self._tail = _HEADERS, 0, b"\n"
            if data and self._phase is _HEADERS:
                found = _END_OF_HEAD.search(self._tail + data)
                used = len(data) if found is None else found.end() - len(self._tail)
                self._count += used
                if self._count > headers_limit:
                    return self._refuse(431, "headers_too_large",
                                        f"the request headers are larger than the server's limit of "
                                        f"{headers_limit} bytes", data)
                out.append(data)
                if found is None:
                    self._tail = (self._tail + data)[-2:]
                else:
                    self._phase = _BODY
                data = b""
            if data:                                    # the body: h11 frames it
                out.append(data)
            return b"".join(out)

        def _refuse(self, status: int, code: str, message: str, rest: bytes) -> bytes:
            """Answer now, then read the rest of the head before closing: closing with unread bytes
            would reset the connection before the client reads the answer."""
            log.info("refused a request head: %d %s", status, code)
            self._phase, self._tail = _REFUSED, b""
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(json_error(status, code, message))
            else:                                       # a pipelined predecessor still answering
                self.cycle.keep_alive = False
            self._discard(rest)
            return b""

        def _discard(self, data: bytes) -> None:
            self._discarded += len(data)
            found = _END_OF_HEAD.search(self._tail + data)
            self._tail = (self._tail + data)[-2:]
            if found is not None or self._discarded > _DISCARD_LIMIT:
                if self.cycle is None or self.cycle.response_complete:
                    self.transport.close()
                else:
                    self.flow.pause_reading()

        def send_400_response(self, msg: str) -> None:
            # h11 could not parse the request: the contract's JSON error, not uvicorn's plain text.
            self.transport.write(json_error(400, "bad_request", "the request is not valid HTTP/1.1"))
            self.transport.close()

    return UTF8TargetH11Protocol
