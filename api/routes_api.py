"""The routes: the JSON API under /api, the web page, and the health checks."""
from __future__ import annotations

from email.message import Message
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wenda.indexer.errors import BadInput, NotFound, Unauthorized, UnsupportedMediaType, WendaError
from wenda.search.searcher import check_k, clean_query

from .routes_middleware import UNAUTHORIZED_MESSAGE, bearer_ok
from .schemas import (AskRequest, AskResponse, DocumentInfo, DocumentResponse, ErrorResponse, HealthResponse,
                      PassageResponse, ReadyResponse, SearchResponse, ToolSchema)
from .service import STATIC_DIR, Service

DESCRIPTION = """\
在中文文章语料中做语义检索和问答，每条结果都带可核对的引用：`text` 恰好等于来源文件解码后文本的
`[start, end)`（按 Unicode 码点计）。

Semantic search and question answering over Chinese articles, with exact citations.

* **Limits**: a query or question longer than the server's `max_query_chars` (default 2000)
  gets **413**; `k` above `max_k` (default 50) is **clamped** to it, not refused; a request body
  over `max_body_bytes` (default 64 KiB) gets **413**; a request that runs longer than
  `request_timeout_s` (default 15 s) gets **504**.
* **Errors** always have the shape `{"error": {"code": "...", "message": "..."}}`.
* **API key**: when the server has `WENDA_API_KEY` set, every `/api/*` and `/mcp` request needs
  `Authorization: Bearer <key>` (401 otherwise). The page, `/healthz`, `/readyz` and these docs stay open.
* **MCP**: the same tools for chat assistants over streamable HTTP at `/mcp`.
"""

TAGS = [
    {"name": "search", "description": "检索与问答 (search and answers)"},
    {"name": "documents", "description": "文档与段落原文 (documents and passages)"},
    {"name": "assistants", "description": "给大模型用的工具定义 (tool schemas)"},
    {"name": "health", "description": "存活与就绪检查 (liveness and readiness)"},
]


def _errors(*statuses: int) -> dict:
    text = {400: "输入有误（空查询、只有标点、找不到匹配 doc 的文档…）", 401: "需要 API 密钥",
            403: "这个客户端不能写入（服务器没有设置 API 密钥时只接受本机的写入）",
            404: "没有这个文档或段落", 413: "查询或请求体太大", 415: "请求体必须是 application/json",
            422: "参数校验失败（类型不对、未知字段、JSON 格式错误）", 503: "索引还在加载或不可用",
            504: "超过了服务器的时间上限"}
    return {s: {"model": ErrorResponse, "description": text[s]} for s in statuses}


# -- dependencies (Annotated, FastAPI full-stack-template style) -----------------------------

def get_service(request: Request) -> Service:
    return request.app.state.wenda


ServiceDep = Annotated[Service, Depends(get_service)]


def get_searcher(service: ServiceDep):
    """The shared Searcher; 503 while it is loading (or when the index cannot be served)."""
    return service.get_searcher()


SearcherDep = Annotated[object, Depends(get_searcher)]

_bearer = HTTPBearer(auto_error=False, description="只在服务器设置了 WENDA_API_KEY 时需要：`Authorization: Bearer <key>`")


def require_api_key(service: ServiceDep,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    key = service.settings.api_key
    if key and not (credentials and bearer_ok(f"Bearer {credentials.credentials}", key)):
        raise Unauthorized(UNAUTHORIZED_MESSAGE)


ApiKeyDep = Depends(require_api_key)


def require_json(request: Request) -> None:
    """415 unless the request body is declared as JSON."""
    header = request.headers.get("content-type")
    if header:
        msg = Message()
        msg["content-type"] = header
        subtype = msg.get_content_subtype()
        if msg.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
            return
    raise UnsupportedMediaType(f"send the body as JSON with 'Content-Type: application/json' (got {header or 'none'})")


# -- /api -------------------------------------------------------------------------------------

api_router = APIRouter(prefix="/api", dependencies=[ApiKeyDep], responses=_errors(401, 503))

_K_HELP = "返回多少个结果，默认 5；超过服务器的 max_k（默认 50）时按 max_k 处理（截断，不报错）。"


# exclude_unset: "page"/"page_end" appear on PDF hits only, as the hit's own dict has them
@api_router.get("/search", response_model=SearchResponse, response_model_exclude_unset=True, tags=["search"],
                summary="检索段落",
                responses=_errors(400, 413, 422, 504))
async def search(
    service: ServiceDep,
    searcher: SearcherDep,
    q: Annotated[str, Query(min_length=1, description="要查找的内容（自然语言，中文最佳）。超过 max_query_chars 返回 413。",
                            examples=["徐汇区有多少家人工智能企业？"])],
    k: Annotated[int, Query(ge=1, description=_K_HELP, examples=[5])] = 5,
    doc: Annotated[str | None, Query(max_length=500, description="只检索来源文件名匹配这个 glob 的文档。",
                                     examples=["002_*.txt"])] = None,
):
    """混合检索（语义向量 + 关键词 BM25），返回按相关度排列的原文段落和引用。"""
    settings = service.settings
    query = clean_query(q, settings.max_query_chars)
    result = await service.query("search", query, check_k(k, settings.max_k), doc or None)
    return result.to_dict()


@api_router.post("/ask", response_model=AskResponse, response_model_exclude_unset=True, tags=["search"],
                 summary="提问",
                 dependencies=[Depends(require_json)], responses=_errors(400, 413, 415, 422, 504))
async def ask(body: AskRequest, service: ServiceDep, searcher: SearcherDep):
    """从语料中回答一个问题：简短答案、`found`（有没有答案）和编号引用；没有答案时 `found` 为 false
    且 `answer` 直说“语料中没有找到答案”。"""
    settings = service.settings
    question = clean_query(body.question, settings.max_query_chars)
    k = check_k(body.k, settings.max_k)
    if not body.llm:
        answer = await service.query("ask", question, k, body.doc or None)
    else:
        llm = _llm_config(settings)
        answer = await service.call(lambda: searcher.ask(question, k=k, doc=body.doc or None, llm=llm),
                                    timeout=settings.request_timeout_s + settings.llm_timeout_s)
    return answer.to_dict()


def _llm_config(settings):
    from wenda.search.llm import LLMConfig

    if not settings.llm_base_url or not settings.llm_model:
        raise BadInput("\"llm\": true needs an LLM endpoint configured on the server "
                       "(WENDA_LLM_BASE_URL and WENDA_LLM_MODEL)")
    return LLMConfig(base_url=settings.llm_base_url, model=settings.llm_model, api_key=settings.llm_api_key,
                     timeout_s=settings.llm_timeout_s, context_tokens=settings.llm_context_tokens)


@api_router.get("/documents", response_model=list[DocumentInfo], tags=["documents"], summary="文档列表",
                responses=_errors(504))
async def documents(service: ServiceDep, searcher: SearcherDep):
    """索引中的全部文档：来源文件、标题、段落数、字数。"""
    return await service.call(searcher.documents)


def _passage(p) -> dict:
    return {"passage_id": p.passage_id, "source": p.source, "title": p.title, "section": list(p.section),
            "paragraph": p.paragraph, "start": p.start, "end": p.end, "text": p.text}


def _safe_source(source: str) -> str:
    """Sources are relative '/'-separated paths in the index; anything else cannot name one."""
    parts = PurePosixPath(source).parts
    if not source or source.startswith(("/", "\\")) or ".." in parts or "\\" in source or "\x00" in source:
        raise NotFound(f"no document {source!r} in this index; see /api/documents")
    return source


@api_router.get("/documents/{source:path}", response_model=DocumentResponse, tags=["documents"],
                summary="文档全文与段落", responses=_errors(404, 504))
async def document(
    service: ServiceDep,
    searcher: SearcherDep,
    source: Annotated[str, Path(description="来源文件（/api/documents 中的 source），含子目录时照写 `/`。",
                                examples=["002_d4cb951aedcfedf9.txt"])],
):
    """一篇文档的全文（引用偏移以它为准）和它的全部段落及字符偏移。只从索引中读取，不访问文件系统。"""
    source = _safe_source(source)

    def read() -> dict:
        meta, text, passages = searcher.document(source)
        return {"source": meta["source"], "title": meta["title"], "chars": meta["chars"], "sha256": meta["sha256"],
                "text": text, "passages": [_passage(sp.passage) for sp in passages],
                "pages": [{"page": n, "start": s, "end": e} for n, s, e in meta.get("pages", [])]}

    return await service.call(read)


@api_router.get("/passages/{passage_id:path}", response_model=PassageResponse, tags=["documents"],
                summary="段落原文", responses=_errors(400, 404, 422, 504))
async def passage(
    service: ServiceDep,
    searcher: SearcherDep,
    passage_id: Annotated[str, Path(description="段落编号 \"<来源文件>#<段序号>\"（URL 中 # 写作 %23）。",
                                    examples=["002_d4cb951aedcfedf9.txt#8"])],
    context: Annotated[int, Query(ge=0, description="另外返回前后各多少个相邻段落，默认 0，最多 10（更大按 10 处理）。",
                                  examples=[1])] = 0,
):
    """按编号取回一个段落，可带前后相邻段落。"""
    def read() -> dict:
        stored = [sp.passage for sp in searcher.passage(passage_id, context=min(context, 10))]
        i = next(i for i, p in enumerate(stored) if p.passage_id == passage_id)
        return {"passage": _passage(stored[i]), "before": [_passage(p) for p in stored[:i]],
                "after": [_passage(p) for p in stored[i + 1:]]}

    return await service.call(read)


@api_router.get("/tools", response_model=list[ToolSchema], tags=["assistants"], summary="OpenAI 工具定义",
                responses=_errors(504))
async def tools(service: ServiceDep, searcher: SearcherDep):
    """search_corpus、ask_corpus、get_passage、list_documents 四个工具的 OpenAI function-calling 定义，
    直接作为 `tools=` 传给任何兼容的接口；工具说明里写明了语料的内容。"""
    from .tools import openai_tool_schemas

    return await service.call(lambda: openai_tool_schemas(searcher))


# -- the page and health checks ---------------------------------------------------------------

page_router = APIRouter()

_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@page_router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@page_router.get("/healthz", response_model=HealthResponse, tags=["health"], summary="存活检查")
async def healthz():
    """进程在运行就返回 200（不访问索引，随时可答）。"""
    return {"status": "ok"}


@page_router.get("/readyz", response_model=ReadyResponse, tags=["health"], summary="就绪检查",
                 responses=_errors(503))
async def readyz(service: ServiceDep):
    """索引和模型加载完成后返回 200；加载中或索引不可用时返回 503 及原因。"""
    try:
        searcher = service.get_searcher()
    except WendaError as exc:
        return JSONResponse({"error": {"code": exc.code, "message": str(exc)}}, status_code=503)
    manifest = searcher.index.manifest
    return {"status": "ready", "generation": searcher.index.generation.name, "model": manifest["model"]["name"],
            "documents": manifest["counts"].get("documents", len(manifest.get("sources", {}))), "passages": manifest["counts"]["passages"]}
