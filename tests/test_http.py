"""The HTTP API through FastAPI's TestClient, against the real model and the real seeds index:
every endpoint, the error shape, limits, bad input, the API key, CORS, reloads; then a real
`wenda serve` in a subprocess over real HTTP."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from wenda.api.server import create_app
from wenda.api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
XUHUI = "002_d4cb951aedcfedf9.txt"
QUESTION = "徐汇区有多少家人工智能相关企业？"
BASE = "http://127.0.0.1"       # the MCP endpoint checks the Host header of loopback servers


def make_settings(index_dir: Path, cache_dir: Path, **overrides) -> Settings:
    return replace(Settings(index_dir=index_dir, cache_dir=cache_dir, request_timeout_s=300.0), **overrides)


@pytest.fixture(scope="module")
def settings(seeds_index, cache_dir) -> Settings:
    return make_settings(seeds_index, cache_dir)


@pytest.fixture(scope="module")
def client(settings, searcher):
    with TestClient(create_app(settings, searcher=searcher), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def doc_texts(client) -> dict[str, str]:
    out = {}
    for d in client.get("/api/documents").json():
        out[d["source"]] = client.get(f"/api/documents/{quote(d['source'])}").json()["text"]
    return out


@contextlib.contextmanager
def http_log(caplog):
    """Capture the "wenda.http" logger directly (the CLI may have turned off its propagation)."""
    logger = logging.getLogger("wenda.http")
    old_level = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(old_level)


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"] and "Traceback" not in r.text
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def assert_citations(hits: list[dict], doc_texts: dict[str, str]) -> None:
    for hit in hits:
        text = doc_texts[hit["source"]]
        assert 0 <= hit["start"] < hit["end"] <= len(text)
        assert hit["text"] == text[hit["start"]:hit["end"]], hit["passage_id"]
        assert hit["passage_id"] == f"{hit['source']}#{hit['paragraph']}"


# -- health, page, docs -----------------------------------------------------------------------

def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["documents"] == 5 and ready.json()["passages"] > 50


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<html lang="zh-CN">' in page.text and "/static/app.js" in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    assert "https://" not in client.get("/static/style.css").text          # no CDN, no web fonts
    assert_error(client.get("/static/nope.js"), 404, "not_found")


def test_openapi_documents_every_field(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/search", "/api/ask", "/api/documents", "/api/documents/{source}", "/api/passages/{passage_id}",
            "/api/tools", "/healthz", "/readyz"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    for name in ("AskRequest", "AskResponse", "SearchResponse", "Hit", "DocumentResponse", "ErrorResponse"):
        for prop, info in schemas[name]["properties"].items():
            assert info.get("description"), f"{name}.{prop} has no description"
    assert schemas["AskRequest"]["additionalProperties"] is False
    assert "clamped" in spec["info"]["description"] and "max_k" in json.dumps(spec["paths"]["/api/search"])
    ask_responses = spec["paths"]["/api/ask"]["post"]["responses"]
    assert {"200", "413", "415", "422"} <= set(ask_responses)
    assert client.get("/docs").status_code == 200


# -- search and ask ---------------------------------------------------------------------------

def test_search_hits_quote_their_documents(client, doc_texts):
    r = client.get("/api/search", params={"q": QUESTION, "k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == QUESTION and len(body["hits"]) == 5 and body["took_ms"] >= 0
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3, 4, 5]
    assert any("710家" in h["text"] for h in body["hits"])
    assert_citations(body["hits"], doc_texts)
    assert all("<mark>" in h["highlight"] for h in body["hits"][:3])


def test_search_doc_filter(client):
    hits = client.get("/api/search", params={"q": "人工智能", "doc": "002_*"}).json()["hits"]
    assert hits and {h["source"] for h in hits} == {XUHUI}
    assert_error(client.get("/api/search", params={"q": "人工智能", "doc": "nothing-*.md"}), 400, "bad_input")


def test_ask_answers_with_exact_citations(client, doc_texts):
    r = client.post("/api/ask", json={"question": QUESTION, "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["question"] == QUESTION and isinstance(body["found"], bool) and body["answer"]
    assert len(body["passages"]) == 3 and body["mode"] == "extractive"
    assert body["found"] and body["citations"]
    assert_citations(body["citations"] + body["passages"], doc_texts)
    short = body["answer_span"]
    assert "710" in short["text"] and short["text"] == doc_texts[short["source"]][short["start"]:short["end"]]


def test_ask_not_found_says_so(client):
    body = client.post("/api/ask", json={"question": "火星上第一座城市叫什么名字？"}).json()
    assert body["found"] is False and body["citations"] == [] and "没有找到" in body["answer"]


@pytest.mark.parametrize("query", [
    "徐汇\x00区\x1f人工\u200b智能\x7f企业",        # control and zero-width characters
    "🤖 人工智能 🚀 企业",                         # emoji
    "artificial intelligence companies in Shanghai",
    '"AND OR NEAR(" *',                           # FTS5 syntax is searched as text
    "NEAR(徐汇 AI, 2) OR 企业* AND -\"",
    "人工智能" * 400,                             # long but within the limit
])
def test_awkward_queries_are_searched(client, doc_texts, query):
    r = client.get("/api/search", params={"q": query, "k": 3})
    assert r.status_code == 200, r.text
    assert len(r.json()["hits"]) == 3
    assert_citations(r.json()["hits"], doc_texts)


def test_traditional_characters_find_the_simplified_passage(client):
    hits = client.get("/api/search", params={"q": "徐匯區有多少家人工智慧企業", "k": 5}).json()["hits"]
    assert any(h["source"] == XUHUI and "徐汇区已有人工智能相关企业约710家" in h["text"] for h in hits)


@pytest.mark.parametrize("params, status, code", [
    ({"q": ""}, 422, "validation_error"),
    ({"q": "   \t "}, 400, "bad_input"),
    ({"q": "\x00\x01\x02"}, 400, "bad_input"),
    ({"q": "？！。，……——"}, 400, "bad_input"),       # only punctuation
    ({}, 422, "validation_error"),
    ({"q": "企业", "k": 0}, 422, "validation_error"),
    ({"q": "企业", "k": -3}, 422, "validation_error"),
    ({"q": "企业", "k": "many"}, 422, "validation_error"),
    ({"q": "企" * 5000}, 413, "too_large"),
])
def test_bad_search_input(client, params, status, code):
    assert_error(client.get("/api/search", params=params), status, code)


def test_huge_k_is_clamped(client, settings):
    hits = client.get("/api/search", params={"q": "上海", "k": 10**12}).json()["hits"]
    assert 5 < len(hits) <= settings.max_k


@pytest.mark.parametrize("kwargs, status, code", [
    ({"content": b'{"question": "x",', "headers": {"content-type": "application/json"}}, 422, "validation_error"),
    ({"content": b"question=x", "headers": {"content-type": "application/x-www-form-urlencoded"}}, 415, None),
    ({"content": '{"question": "企业"}'.encode(), "headers": {"content-type": "text/plain"}}, 415, None),
    ({"content": '{"question": "企业"}'.encode()}, 415, None),                        # no content type
    ({"json": {"question": "企业", "top_k": 3}}, 422, "validation_error"),           # unknown field
    ({"json": {"k": 3}}, 422, "validation_error"),
    ({"json": {"question": 42}}, 422, "validation_error"),
    ({"json": ["企业"]}, 422, "validation_error"),
    ({"json": {"question": "企业", "k": 0}}, 422, "validation_error"),
    ({"json": {"question": " \n "}}, 400, "bad_input"),
    ({"json": {"question": "企业", "llm": True}}, 400, "bad_input"),                 # no LLM configured
    ({"json": {"question": "x" * 70_000}}, 413, "too_large"),                        # body over 64 KiB
])
def test_bad_ask_input(client, kwargs, status, code):
    err = assert_error(client.post("/api/ask", **kwargs), status, code)
    if status == 415:
        assert "application/json" in err["message"]


def test_body_limit_counts_received_bytes(client):
    def chunks():                       # chunked: no Content-Length to refuse it by
        yield b'{"question": "'
        for _ in range(100):
            yield "企业".encode() * 200
        yield b'"}'

    assert_error(client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"}), 413, "too_large")


def test_question_over_max_query_chars_is_413(settings, searcher):
    big_body = replace(settings, max_body_bytes=1 << 20)
    with TestClient(create_app(big_body, searcher=searcher), base_url=BASE) as c:
        err = assert_error(c.post("/api/ask", json={"question": "问" * 100_000}), 413, "too_large")
        assert "2000" in err["message"]


def test_time_budget_gives_504(settings, searcher):
    with TestClient(create_app(replace(settings, request_timeout_s=1e-6), searcher=searcher), base_url=BASE) as c:
        assert_error(c.get("/api/search", params={"q": "一个没有缓存过的查询：城市大脑"}), 504, "timeout")


def test_concurrent_requests_are_batched_and_all_answered(settings, searcher, monkeypatch):
    app = create_app(settings, searcher=searcher)
    queries = [f"{district}的数字经济" for district in ("静安区", "普陀区", "徐汇区", "浦东新区", "长宁区", "闵行区")]
    batches = []
    real = searcher.search_batch

    def counted(batch, **kwargs):           # the real search, counting how requests were grouped
        batches.append(len(batch))
        return real(batch, **kwargs)

    monkeypatch.setattr(searcher, "search_batch", counted)

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            return await asyncio.gather(*(c.get("/api/search", params={"q": q, "k": 2}) for q in queries))

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * len(queries)
    assert [r.json()["query"] for r in responses] == queries
    assert sum(batches) == len(queries) and max(batches) > 1, batches


# -- documents, passages, tools ---------------------------------------------------------------

def test_documents(client, doc_texts):
    docs = client.get("/api/documents").json()
    assert len(docs) == 5 and all({"source", "title", "passages", "chars"} <= set(d) for d in docs)
    doc = client.get(f"/api/documents/{XUHUI}").json()
    assert doc["title"] == "抢占新赛道 培育新动能" and doc["chars"] == len(doc["text"])
    assert [p["paragraph"] for p in doc["passages"]] == list(range(1, len(doc["passages"]) + 1))
    for p in doc["passages"]:
        assert doc["text"][p["start"]:p["end"]] == p["text"]


@pytest.mark.parametrize("path", [
    "/api/documents/..%2f..%2fetc%2fpasswd",
    "/api/documents/%2e%2e/%2e%2e/etc/passwd",
    "/api/documents/%2Fetc%2Fpasswd",
    "/api/documents//etc/passwd",
    "/api/documents/..%5c..%5cwindows%5cwin.ini",
    "/api/documents/seeds%2F002_d4cb951aedcfedf9.txt",
    "/api/documents/no-such-file.txt",
])
def test_documents_are_served_from_the_index_only(client, path):
    assert_error(client.get(path), 404, "not_found")


def test_passages(client):
    pid = f"{XUHUI}#8"
    one = client.get(f"/api/passages/{quote(pid)}").json()
    assert one["passage"]["passage_id"] == pid and one["before"] == [] and one["after"] == []
    ctx = client.get(f"/api/passages/{quote(pid)}", params={"context": 2}).json()
    assert [p["paragraph"] for p in ctx["before"] + [ctx["passage"]] + ctx["after"]] == [6, 7, 8, 9, 10]
    wide = client.get(f"/api/passages/{quote(pid)}", params={"context": 1000}).json()
    assert len(wide["before"]) == 7 and len(wide["after"]) <= 10                     # clamped to 10
    assert_error(client.get(f"/api/passages/{quote(XUHUI + '#9999')}"), 404, "not_found")
    assert_error(client.get("/api/passages/nothing"), 404, "not_found")
    assert_error(client.get(f"/api/passages/{quote(pid)}", params={"context": -1}), 422, "validation_error")


def test_tools(client):
    tools = client.get("/api/tools").json()
    names = [t["function"]["name"] for t in tools]
    assert names == ["search_corpus", "ask_corpus", "get_passage", "list_documents"]
    assert all(t["type"] == "function" and t["function"]["parameters"]["type"] == "object" for t in tools)
    assert "抢占新赛道" in tools[0]["function"]["description"]


def test_mcp_over_http(client):
    headers = {"accept": "application/json, text/event-stream"}
    listed = client.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert listed.status_code == 200
    assert {t["name"] for t in listed.json()["result"]["tools"]} >= {"search_corpus", "ask_corpus"}
    called = client.post("/mcp", headers=headers, json={
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "search_corpus", "arguments": {"query": "徐汇区人工智能企业", "k": 2}}})
    result = called.json()["result"]
    assert not result.get("isError") and len(result["structuredContent"]["hits"]) == 2


# -- errors everywhere ------------------------------------------------------------------------

def test_unknown_routes_and_methods(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/api/nope"), 404, "not_found")
    r = client.put("/api/ask", json={"question": "x"})
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers["allow"]
    assert_error(client.get("/api/ask"), 405, "method_not_allowed")
    assert_error(client.delete("/api/documents"), 405)


def test_unexpected_errors_are_a_generic_500_and_logged(settings, searcher, caplog):
    app = create_app(settings, searcher=searcher)

    def boom():
        raise RuntimeError("secret internal detail")

    app.add_api_route("/api/boom", boom)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as c, http_log(caplog):
        r = c.get("/api/boom")
    err = assert_error(r, 500, "internal_error")
    assert "secret" not in r.text and "RuntimeError" not in r.text and "server log" in err["message"]
    assert "secret internal detail" in caplog.text          # the traceback is in the server's log


def test_access_log_has_no_values_or_keys(settings, searcher, caplog):
    keyed = replace(settings, api_key="s3cret-key")
    with TestClient(create_app(keyed, searcher=searcher), base_url=BASE) as c, http_log(caplog):
        c.get("/api/search", params={"q": "静安区企业", "k": 2}, headers={"Authorization": "Bearer s3cret-key"})
        c.get("/api/search", params={"q": "静安区企业"}, headers={"Authorization": "Bearer wrong-key"})
        c.get("/api/passages/x%0AGET%20/forged%20200", headers={"Authorization": "Bearer s3cret-key"})
    lines = [r.getMessage() for r in caplog.records if r.name == "wenda.http"]
    assert any(line.startswith("GET /api/search?q&k 200 ") and line.endswith(" ms") for line in lines), lines
    assert any(line.startswith("GET /api/search?q 401 ") for line in lines), lines
    assert "s3cret" not in caplog.text and "wrong-key" not in caplog.text and "静安" not in caplog.text
    assert any(line.startswith("GET /api/passages/x\\x0aGET /forged 200 404 ") for line in lines), lines
    assert not any(line.startswith("GET /forged") for line in caplog.text.splitlines())


# -- API key and CORS -------------------------------------------------------------------------

def test_api_key(settings, searcher):
    keyed = replace(settings, api_key="s3cret-key")
    with TestClient(create_app(keyed, searcher=searcher), base_url=BASE) as c:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "s3cret-key"},
                        {"Authorization": "Basic czNjcmV0LWtleQ=="}):
            r = c.get("/api/documents", headers=headers)
            assert_error(r, 401, "unauthorized")
            assert r.headers["www-authenticate"] == "Bearer"
        assert_error(c.post("/api/ask", json={"question": "企业"}), 401, "unauthorized")
        assert_error(c.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}), 401, "unauthorized")
        good = {"Authorization": "Bearer s3cret-key"}
        assert c.get("/api/documents", headers=good).status_code == 200
        mcp = c.post("/mcp", headers={**good, "accept": "application/json, text/event-stream"},
                     json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert mcp.status_code == 200
        for open_path in ("/", "/static/app.js", "/healthz", "/readyz", "/openapi.json", "/docs"):
            assert c.get(open_path).status_code == 200, open_path
        assert "HTTPBearer" in json.dumps(c.get("/openapi.json").json()["components"]["securitySchemes"])


def test_cors_closed_by_default(client):
    origin = {"Origin": "https://evil.example"}
    r = client.get("/api/documents", headers=origin)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = client.options("/api/ask", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


def test_cors_when_configured(settings, searcher):
    with TestClient(create_app(replace(settings, cors_origins=("https://app.example",)), searcher=searcher),
                    base_url=BASE) as c:
        ok = c.get("/api/documents", headers={"Origin": "https://app.example"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        pre = c.options("/api/ask", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "authorization,content-type"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://app.example"
        other = c.get("/api/documents", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# -- loading and reloading --------------------------------------------------------------------

def test_not_ready_until_an_index_exists(tmp_path, cache_dir):
    app = create_app(make_settings(tmp_path / "no-index", cache_dir))
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/healthz").status_code == 200
        deadline = time.monotonic() + 30
        while (r := c.get("/readyz")).json()["error"]["code"] == "not_ready" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert_error(r, 503, "index_missing")
        assert "wenda index" in r.json()["error"]["message"]
        assert_error(c.get("/api/search", params={"q": "企业"}), 503, "index_missing")


def test_new_build_is_picked_up_without_restart(index_copy, tmp_path, cache_dir, embedder):
    from wenda.indexer.build import IndexSettings, build_index
    from wenda.search import Searcher

    searcher = Searcher.open(index_copy, cache_dir=cache_dir, embedder=embedder)
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "005_new.txt").write_text("新文章\n\n松江区的九科绿洲今年新落户了一百二十家机器人企业。\n", encoding="utf-8")
    settings = make_settings(index_copy, cache_dir, reload_check_s=0.2)
    with TestClient(create_app(settings, searcher=searcher), base_url=BASE) as c:
        assert len(c.get("/api/documents").json()) == 5
        build_index([corpus], index_copy, IndexSettings(), cache_dir, embedder=embedder)
        deadline = time.monotonic() + 60
        while len(c.get("/api/documents").json()) == 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(c.get("/api/documents").json()) == 6
        hits = c.get("/api/search", params={"q": "九科绿洲有多少家机器人企业", "k": 1}).json()["hits"]
        assert hits[0]["source"] == "005_new.txt"


# -- a real server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index_dir: Path, env: dict, log_path: Path, extra_env: dict | None = None, ready: bool = True,
                 forks=None):
    """`wenda serve` in a subprocess (``forks``: forked from the run_wenda fixture's warm process);
    returns (process, base URL, saw /readyz 503 before 200).
    ``ready``: wait for /readyz 200 (the index loaded), else only for /healthz (the server up)."""
    port = free_port()
    args = ["serve", "--port", str(port), "--index-dir", str(index_dir)]
    if forks is not None:
        proc = forks.start(args, {**env, **(extra_env or {})}, log_path, cwd=log_path.parent)
    else:
        proc = subprocess.Popen([sys.executable, "-m", "wenda.api.cli", *args], env={**env, **(extra_env or {})},
                                cwd=log_path.parent, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    saw_not_ready, deadline = False, time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"wenda serve exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            r = httpx.get(f"{base}/readyz" if ready else f"{base}/healthz", timeout=5)
            if r.status_code == 200:
                return proc, base, saw_not_ready
            saw_not_ready |= r.status_code == 503 and httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(proc)
    raise AssertionError(f"wenda serve not ready in time:\n{log_path.read_text()}")


def stop_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@pytest.mark.slow
def test_real_server(seeds_index, wenda_env, tmp_path):
    proc, base, saw_not_ready = start_server(seeds_index, wenda_env, tmp_path / "serve.log")
    try:
        assert saw_not_ready, "/healthz should answer while the index is still loading"
        with httpx.Client(base_url=base, timeout=120) as c:
            hits = c.get("/api/search", params={"q": QUESTION, "k": 3}).json()["hits"]
            assert len(hits) == 3 and any("710家" in h["text"] for h in hits)
            answer = c.post("/api/ask", json={"question": QUESTION})
            assert answer.status_code == 200 and answer.json()["passages"]
            assert_error(c.get("/api/search", params={"q": " "}), 400, "bad_input")
            assert c.get("/").status_code == 200
        # What `curl 'http://…/api/search?q=徐汇区…'` sends: the Chinese query as raw UTF-8 bytes.
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=120) as sock:
            sock.sendall(f"GET /api/search?q={QUESTION}&k=3 HTTP/1.1\r\nHost: {host}\r\n"
                         "Connection: close\r\n\r\n".encode("utf-8"))
            raw = b"".join(iter(lambda: sock.recv(65536), b""))
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert any("710家" in h["text"] for h in json.loads(body)["hits"])
    finally:
        code = stop_server(proc)
    assert code == 0, (tmp_path / "serve.log").read_text()
    log = (tmp_path / "serve.log").read_text()
    assert "POST /api/ask 200" in log and "Traceback" not in log
