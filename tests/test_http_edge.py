"""The HTTP connection's edge under a real uvicorn on 127.0.0.1, spoken to over raw sockets: raw
UTF-8 request lines sent one byte per write, header bytes kept as sent, and heads too long for
the server answered with the JSON error body (414, 431) instead of a reset connection."""
from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import replace
from urllib.parse import quote

import pytest
import uvicorn

from wenda.api.http_edge import request_line_limit
from wenda.api.server import create_app, uvicorn_config
from wenda.api.settings import Settings

QUESTION = "普陀区的5G室外基站开通了多少个"       # the seeds say 2694


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app, settings: Settings):
    """``app`` served by uvicorn exactly as `wenda serve` configures it, in a thread."""
    settings = replace(settings, host="127.0.0.1", port=free_port())
    server = uvicorn.Server(uvicorn_config(settings, app))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield settings.port
    finally:
        server.should_exit = True
        thread.join(30)


async def echo_app(scope, receive, send):
    """Answers with what reached the app: the raw query string, the header bytes and the body."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    seen = {"query_string": scope["query_string"].hex(), "body": body.hex(),
            "headers": [[name.decode("latin-1"), value.hex()] for name, value in scope["headers"]]}
    payload = json.dumps(seen).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
def settings(seeds_index, cache_dir) -> Settings:
    return Settings(index_dir=seeds_index, cache_dir=cache_dir, request_timeout_s=300.0)


@pytest.fixture(scope="module")
def wenda_port(settings, searcher):
    with running(create_app(settings, searcher=searcher), settings) as port:
        yield port


@pytest.fixture(scope="module")
def echo_port(settings):
    with running(echo_app, settings) as port:
        yield port


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)    # each write its own segment
    return sock


def send_bytewise(sock: socket.socket, data: bytes) -> None:
    """One byte per write, with a pause after each line so that the head arrives over many reads."""
    for i in range(len(data)):
        sock.sendall(data[i:i + 1])
        time.sleep(0.02 if data[i:i + 1] == b"\n" else 0.001)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (framed by Content-Length): status, headers, body."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a response head: {raw!r}"
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside a response body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def assert_json_error(status: int, headers: dict, body: bytes, expected: int, code: str) -> str:
    assert status == expected, body
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"} and error["code"] == code and error["message"], error
    return error["message"]


# -- raw UTF-8 request lines, any split ------------------------------------------------------------

def test_raw_utf8_search_sent_one_byte_per_write(wenda_port):
    request = (f"GET /api/search?q={QUESTION}&k=3 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Accept: application/json\r\n\r\n").encode("utf-8")
    with connect(wenda_port) as sock:
        send_bytewise(sock, request)
        status, headers, body = read_response(sock)
    assert status == 200, body
    result = json.loads(body)
    assert result["query"] == QUESTION
    assert len(result["hits"]) == 3 and "2694" in result["hits"][0]["text"]


def test_header_bytes_are_never_reencoded(echo_port):
    note = "测试 100%".encode("utf-8")
    first = (b"GET /echo?q=\xe5\xbe\x90\xe6\xb1\x87 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: " + note
             + b"\r\nX-Ascii: a%20b\r\n\r\n")
    body = "正文 bytes".encode("utf-8")
    second = (b"POST /echo?q=\xe5\x8c\xba HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: " + note
              + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with connect(echo_port) as sock:
        send_bytewise(sock, first)
        status, _, raw = read_response(sock)
        assert status == 200, raw
        seen = json.loads(raw)
        assert bytes.fromhex(seen["query_string"]) == b"q=%E5%BE%90%E6%B1%87"
        headers = {name: bytes.fromhex(value) for name, value in seen["headers"]}
        assert headers["x-note"] == note and headers["x-ascii"] == b"a%20b"
        assert headers["host"] == b"127.0.0.1"

        send_bytewise(sock, second)             # the next request on the same connection
        status, _, raw = read_response(sock)
        assert status == 200, raw
        seen = json.loads(raw)
        assert bytes.fromhex(seen["query_string"]) == b"q=%E5%8C%BA"
        assert dict((n, bytes.fromhex(v)) for n, v in seen["headers"])["x-note"] == note
        assert bytes.fromhex(seen["body"]) == body


def test_whole_head_in_one_write_is_reencoded_only_in_its_first_line(echo_port):
    request = b"GET /echo?q=\xe5\x8c\xba HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: \xe5\x8c\xba\r\n\r\n"
    with connect(echo_port) as sock:
        sock.sendall(request)
        status, _, raw = read_response(sock)
    seen = json.loads(raw)
    assert status == 200 and bytes.fromhex(seen["query_string"]) == b"q=%E5%8C%BA"
    assert dict((n, bytes.fromhex(v)) for n, v in seen["headers"])["x-note"] == b"\xe5\x8c\xba"


# -- heads too long: JSON errors, no reset -----------------------------------------------------

def exchange_all(port: int, request: bytes) -> tuple[int, dict, bytes]:
    """Send the whole request, then read the answer to the end of the connection."""
    with connect(port) as sock:
        sock.sendall(request)
        status, headers, body = read_response(sock)
        assert sock.recv(65536) == b"", "the server must close after refusing a head"
    return status, headers, body


@pytest.mark.parametrize("encoded", [True, False], ids=["percent-encoded", "raw-utf8"])
def test_a_100000_character_query_gets_414_json(wenda_port, encoded):
    query = "区" * 100_000
    target = quote(query) if encoded else query
    request = f"GET /api/search?q={target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("utf-8")
    message = assert_json_error(*exchange_all(wenda_port, request), 414, "uri_too_long")
    assert "limit" in message
    with connect(wenda_port) as sock:       # the server goes on serving
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200


def test_a_query_just_over_the_character_limit_reaches_the_app(wenda_port, settings):
    """Percent-encoded, a query of max_query_chars is longer than h11's default head limit (16 KiB):
    it must reach the app, which answers 413 for one character too many."""
    query = "区" * (settings.max_query_chars + 1)
    request = f"GET /api/search?q={quote(query)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("ascii")
    assert len(request) > 16 * 1024 and len(request) < request_line_limit(settings.max_query_chars)
    with connect(wenda_port) as sock:
        for i in range(0, len(request), 1000):      # over many reads
            sock.sendall(request[i:i + 1000])
            time.sleep(0.002)
        message = assert_json_error(*read_response(sock), 413, "too_large")
    assert str(settings.max_query_chars) in message


def test_headers_too_large_get_431_json(wenda_port):
    request = (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               + b"".join(b"X-Filler-%d: %s\r\n" % (i, b"x" * 1000) for i in range(100)) + b"\r\n")
    assert_json_error(*exchange_all(wenda_port, request), 431, "headers_too_large")


def test_malformed_request_gets_400_json(wenda_port):
    assert_json_error(*exchange_all(wenda_port, b"NOT HTTP AT ALL\r\n\r\n"), 400, "bad_request")
