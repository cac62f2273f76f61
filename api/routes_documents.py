"""The routes around document files: a PDF page as an image and the cited passage's boxes on it,
the original file, and adding and removing documents while serving (``GET /api/index`` shows
the background build). Included before api/routes_api.py's router, whose
``/api/documents/{source}`` would otherwise take these paths."""
from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from wenda.indexer.errors import BadInput, Forbidden, NotFound

from .originals import content_type, original
from .routes_api import ApiKeyDep, SearcherDep, ServiceDep, _errors, _safe_source

router = APIRouter(prefix="/api", dependencies=[ApiKeyDep], responses=_errors(401, 503))

_SOURCE = Path(description="来源文件（/api/documents 中的 source）。", examples=["report.pdf"])
# an original HTML file must not run in the page's origin: no scripts, a unique origin
_ORIGINAL_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
                     "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def _pdf(data: bytes, meta: dict, source: str) -> None:
    if meta.get("kind") != "pdf":
        raise NotFound(f"{source!r} is not a PDF ({meta.get('kind', 'text')}); it has no page images")


@router.get("/documents/{source:path}/pages/{n}.png", tags=["documents"], summary="PDF 页面图像",
            response_class=Response, responses={**_errors(404, 504), 200: {"content": {"image/png": {}}}})
async def page_image(service: ServiceDep, searcher: SearcherDep, source: Annotated[str, _SOURCE],
                     n: Annotated[int, Path(ge=1, description="页码（从 1 开始）")]):
    """PDF 文档第 n 页渲染成的 PNG 图像（144 dpi）。不是 PDF 或没有这一页时返回 404。"""
    from wenda.indexer.readers.pdf_pages import render_png

    source = _safe_source(source)

    def render() -> bytes:
        data, meta = original(searcher, source)
        _pdf(data, meta, source)
        return render_png(data, n)

    png = await service.call(render)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/documents/{source:path}/pages/{n}/boxes", tags=["documents"], summary="引用在页面上的位置",
            responses=_errors(400, 404, 504))
async def page_boxes(service: ServiceDep, searcher: SearcherDep, source: Annotated[str, _SOURCE],
                     n: Annotated[int, Path(ge=1, description="页码（从 1 开始）")],
                     start: Annotated[int, Query(ge=0, description="引用在文档文本中的起始字符偏移")],
                     end: Annotated[int, Query(ge=0, description="结束字符偏移（不含）")]):
    """文档文本 `[start, end)` 落在第 n 页上的部分，在页面图像上的位置：每行一个框
    `[left, top, right, bottom]`，为页面宽高的比例（左上角为原点）。扫描页没有文字层时 `boxes` 为空。"""
    from wenda.indexer.readers.pdf_pages import cited_boxes

    source = _safe_source(source)
    if end <= start:
        raise BadInput(f"end must be after start (got start={start}, end={end})")

    def compute() -> dict:
        data, meta = original(searcher, source)
        _pdf(data, meta, source)
        meta, text, _ = searcher.document(source)
        page = next((p for p in meta["pages"] if p[0] == n), None)
        if page is None:
            raise NotFound(f"{source!r} has no page {n} in the index")
        _, p_start, p_end = page
        s, e = max(start, p_start), min(end, p_end)
        boxes, width, height = cited_boxes(data, n, text[s:e]) if s < e else ([], 0.0, 0.0)
        return {"source": source, "page": n, "start": s, "end": max(s, e), "boxes": [b.as_list() for b in boxes]}

    return await service.call(compute)


@router.get("/documents/{source:path}/file", tags=["documents"], summary="原始文件",
            response_class=Response, responses=_errors(404, 504))
async def original_file(service: ServiceDep, searcher: SearcherDep, source: Annotated[str, _SOURCE]):
    """索引时读取的原始文件（PDF、Word、HTML、文本……），按类型返回。文件已不在语料目录或已改变时返回 404。"""
    source = _safe_source(source)
    data, _ = await service.call(lambda: original(searcher, source))
    encoding = ""
    if source.lower().endswith((".txt", ".md", ".markdown", ".html", ".htm")):
        try:
            data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            pass
    name = source.rsplit("/", 1)[-1]
    from urllib.parse import quote

    headers = {**_ORIGINAL_HEADERS, "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}"}
    return Response(data, media_type=content_type(source, encoding), headers=headers)


# -- writes -----------------------------------------------------------------------------------

def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host.removeprefix("::ffff:")).is_loopback
    except ValueError:
        return host == "localhost"


def require_writer(request: Request, service: ServiceDep) -> None:
    """Writes need the API key where one is set (checked by the router), else a loopback client."""
    if service.settings.api_key:
        return
    client = request.client.host if request.client else None
    if not _loopback(client):
        raise Forbidden("adding or removing documents needs WENDA_API_KEY set on the server, or a client "
                        "on the server's own machine")


WriterDep = Depends(require_writer)


@router.post("/documents", status_code=202, tags=["documents"], summary="添加文档",
             dependencies=[WriterDep], responses=_errors(400, 403, 404, 413, 422))
async def add_document(service: ServiceDep, searcher: SearcherDep, file: UploadFile):
    """上传一个文件（multipart 字段 `file`）存入语料目录，并在后台增量更新索引；进度见 `GET /api/index`。
    文件名不安全、格式不支持、内容与扩展名不符时拒绝（400，附原因）。"""
    data = await file.read()
    source = await service.call(lambda: service.index_jobs.add(file.filename or "", data))
    return {"source": source, "accepted": True, "index": service.index_jobs.status()}


@router.delete("/documents/{source:path}", status_code=202, tags=["documents"], summary="删除文档",
               dependencies=[WriterDep], responses=_errors(403, 404))
async def delete_document(service: ServiceDep, searcher: SearcherDep, source: Annotated[str, _SOURCE]):
    """从语料目录删除文档的文件，并在后台更新索引。"""
    source = _safe_source(source)
    await service.call(lambda: service.index_jobs.remove(source))
    return {"source": source, "accepted": True, "index": service.index_jobs.status()}


@router.get("/index", tags=["documents"], summary="索引更新进度")
async def index_status(service: ServiceDep) -> JSONResponse:
    """后台更新索引的状态（`state`: building / loading / idle）、进度 `fraction`、正在服务的版本，
    上一次更新的报告（含 `skipped`: 未能读取的文件及原因）和被拒绝的上传（`refused`）。"""
    return JSONResponse(service.index_jobs.status())
