"""wenda's four assistant tools, in one place: names, descriptions, parameters, result shapes.

The MCP server (api/mcp_server.py) and the OpenAI function-calling schemas (``GET /api/tools``)
are both built from ``TOOLS`` below, so a tool is named and described once.

    from wenda.search import Searcher
    from wenda.api.tools import call_tool, openai_tool_schemas, render_result

    searcher = Searcher.open("index")
    tools = openai_tool_schemas(searcher)            # pass as `tools=` to any OpenAI-compatible endpoint
    result = call_tool(searcher, "ask_corpus", {"question": "普陀区累计开通了多少个5G室外基站？"})
    print(render_result("ask_corpus", result))       # compact, numbered, citable text for the model

Results are the contract's JSON shapes (docs/assistants.md); a bad argument gives
``{"error": {"code": "bad_input", "message": "..."}}`` from ``call_tool`` (``run_tool`` raises the
``WendaError`` instead).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wenda.indexer.errors import BadInput, NotFound, WendaError

ASK_K = 5               # supporting passages an ask_corpus answer comes with
LIST_LIMIT = 50         # list_documents: documents per page, by default
MAX_LIST = 500          # and at most
MAX_CONTEXT = 10        # get_passage: neighbours on each side, at most (the searcher clamps to this too)
_TITLES_LISTED = 8      # corpus summary: titles named before "等"
_TITLE_CHARS = 28


# -- the table: one row per tool -------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    name: str
    type: str                       # JSON Schema type: "string" or "integer"
    description: str
    required: bool = False
    default: Any = None
    minimum: int | None = None
    maximum: int | str | None = None    # "max_k": the searcher's limit, filled in per index


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str                # "{corpus}" is replaced by the corpus summary
    params: tuple[Param, ...] = ()


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "search_corpus", "检索语料库",
        "在本地语料库（{corpus}）中做语义+关键词混合检索，返回最相关的原文段落及可核对的引用"
        "（来源文件、章节、第几段、字符偏移）。需要原文依据、了解某个话题或自行归纳答案时用它；"
        "只要一个具体问题的简短答案时用 ask_corpus。",
        (Param("query", "string", "要查找的内容，用自然语言写（中文最佳），例如一个问题或几个关键词。",
               required=True),
         Param("k", "integer", "返回多少个段落，默认 5。", default=5, minimum=1, maximum="max_k")),
    ),
    ToolSpec(
        "ask_corpus", "向语料库提问",
        "就本地语料库（{corpus}）回答一个具体问题：返回从原文中摘出的简短答案、found（语料中是否有答案）"
        "和引用。适合多少、何时、谁、哪里这类事实问题；found 为 false 时语料中没有答案，请如实告知，"
        "或改用 search_corpus 查看相关段落。",
        (Param("question", "string", "一个具体的问题（中文最佳）。", required=True),),
    ),
    ToolSpec(
        "get_passage", "取回段落",
        "按 passage_id 取回本地语料库（{corpus}）中的一个段落原文，可带上前后相邻段落。"
        "检索或回答结果里的某个段落需要更多上下文时用它。",
        (Param("passage_id", "string",
               "段落编号，形如 \"<来源文件>#<段序号>\"，取自 search_corpus 或 ask_corpus 结果中的 passage_id。",
               required=True),
         Param("context", "integer", f"另外返回前后各多少个相邻段落（0–{MAX_CONTEXT}），默认 0。",
               default=0, minimum=0, maximum=MAX_CONTEXT)),
    ),
    ToolSpec(
        "list_documents", "列出文档",
        "分页列出本地语料库（{corpus}）中的文档：来源文件名、标题、段落数和字数，以及文档总数 total。"
        "想知道语料库里有什么、或需要某篇文章的文件名时用它；文档多时用 offset 翻页。",
        (Param("offset", "integer", "从第几篇开始（0 起），默认 0。", default=0, minimum=0),
         Param("limit", "integer", f"最多返回多少篇（1–{MAX_LIST}），默认 {LIST_LIMIT}。",
               default=LIST_LIMIT, minimum=1, maximum=MAX_LIST)),
    ),
)
TOOL_SPECS: dict[str, ToolSpec] = {t.name: t for t in TOOLS}
TOOL_NAMES: tuple[str, ...] = tuple(TOOL_SPECS)


# -- descriptions and schemas -----------------------------------------------------------------

_CN_DIGITS = "零一二三四五六七八九十"


def _count_cn(n: int) -> str:
    return _CN_DIGITS[n] if 0 <= n <= 10 else str(n)


_KIND_NAMES = {"pdf": "PDF", "docx": "Word", "html": "网页", "image": "图片", "text": "文本"}
_TITLES_OF_LARGE = 5    # a large corpus: how many titles are named as examples


def _title(d: Mapping[str, Any]) -> str:
    t = (d.get("title") or d["source"]).strip()
    return "《" + (t if len(t) <= _TITLE_CHARS else t[:_TITLE_CHARS - 1] + "…") + "》"


def _kinds(documents: list[Mapping[str, Any]]) -> str:
    """"PDF 3200 篇、Word 1000 篇、…" (most first), "" when every document is text."""
    counts: dict[str, int] = {}
    for d in documents:
        kind = d.get("kind") or "text"
        counts[kind] = counts.get(kind, 0) + 1
    if set(counts) <= {"text"}:
        return ""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "、".join(f"{_KIND_NAMES.get(k, k)} {n} 篇" for k, n in ranked)


def corpus_summary(documents: list[dict]) -> str:
    """What the corpus is, in one phrase of bounded length whatever its size: a small corpus
    names every title (五篇中文文章：《…》《…》…); a large one says how many documents of which
    kinds and names a few (5000 篇中文文档（PDF 3200 篇、Word 1800 篇），包括《…》…等)."""
    if not documents:
        return "目前为空（还没有建立索引的文档）"
    n = len(documents)
    kinds = _kinds(documents)
    noun = f"中文文档（{kinds}）" if kinds else "中文文章"
    if n <= _TITLES_LISTED:
        return f"{_count_cn(n)}篇{noun}：{''.join(_title(d) for d in documents)}"
    step = n / _TITLES_OF_LARGE          # titles spread over the corpus, not only its first files
    examples = [documents[int(i * step)] for i in range(_TITLES_OF_LARGE)]
    return f"{n} 篇{noun}，包括{''.join(_title(d) for d in examples)}等"


def _summary_of(searcher) -> str:
    try:
        return corpus_summary(searcher.documents())
    except WendaError:
        return "中文文章"


def tool_descriptions(searcher=None, summary: str | None = None) -> dict[str, str]:
    """Each tool's description with the corpus summary filled in."""
    if summary is None:
        summary = _summary_of(searcher) if searcher is not None else "中文文章"
    return {t.name: t.description.format(corpus=summary) for t in TOOLS}


def parameters_schema(spec: ToolSpec, max_k: int = 50) -> dict:
    """The JSON Schema of a tool's arguments (MCP ``inputSchema`` = OpenAI ``parameters``)."""
    props = {}
    for p in spec.params:
        prop: dict[str, Any] = {"type": p.type, "description": p.description}
        if p.default is not None:
            prop["default"] = p.default
        if p.minimum is not None:
            prop["minimum"] = p.minimum
        if p.maximum is not None:
            prop["maximum"] = max_k if p.maximum == "max_k" else p.maximum
        props[p.name] = prop
    return {"type": "object", "properties": props, "required": [p.name for p in spec.params if p.required],
            "additionalProperties": False}


def openai_tool_schemas(searcher) -> list[dict]:
    """The four tools as OpenAI function-calling schemas, described for this searcher's corpus."""
    descriptions = tool_descriptions(searcher)
    max_k = getattr(searcher, "max_k", 50)
    return [{"type": "function",
             "function": {"name": t.name, "description": descriptions[t.name],
                          "parameters": parameters_schema(t, max_k)}}
            for t in TOOLS]


# -- running a tool ---------------------------------------------------------------------------

def check_arguments(name: str, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """The arguments as the tool takes them (defaults filled, "5" -> 5), or BadInput/NotFound with
    a one-line message a model can act on. Values are checked further by the searcher."""
    spec = TOOL_SPECS.get(name)
    if spec is None:
        raise NotFound(f"no tool {name!r}; the tools are {', '.join(TOOL_NAMES)}")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise BadInput(f"{name}: the arguments must be a JSON object")
    names = [p.name for p in spec.params]
    for key in arguments:
        if key not in names:
            takes = f"its arguments are {', '.join(names)}" if names else "it takes no arguments"
            raise BadInput(f"{name} has no argument {key!r}; {takes}")
    out: dict[str, Any] = {}
    for p in spec.params:
        value = arguments.get(p.name)
        if value is None:
            if p.required:
                raise BadInput(f"{name} needs the argument {p.name!r}: {p.description}")
            value = p.default
        elif p.type == "integer":
            value = _whole_number(p.name, value)
        elif p.type == "string" and not isinstance(value, str):
            raise BadInput(f"{p.name} must be text, not {type(value).__name__}")
        out[p.name] = value
    return out


def _whole_number(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise BadInput(f"{name} must be a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    raise BadInput(f"{name} must be a whole number, not {value!r}")


def _passage_dict(p) -> dict:
    return {"passage_id": p.passage_id, "source": p.source, "title": p.title, "section": list(p.section),
            "paragraph": p.paragraph, "start": p.start, "end": p.end, "text": p.text}


def run_tool(searcher, name: str, arguments: Mapping[str, Any] | None) -> dict:
    """Run one tool and return its JSON result. Raises WendaError (one-line message) on bad input."""
    args = check_arguments(name, arguments)
    if name == "search_corpus":
        result = searcher.search(args["query"], k=args["k"])
        out = result.to_dict()
        out["hits"] = [h.to_dict(debug=False) for h in result.hits]
        return out
    if name == "ask_corpus":
        answer = searcher.ask(args["question"], k=ASK_K)
        out = answer.to_dict()
        out["citations"] = [c.to_dict(debug=False) for c in answer.citations]
        out["passages"] = [p.to_dict(debug=False) for p in answer.passages]
        return out
    if name == "get_passage":
        passage_id = args["passage_id"].strip()
        if not passage_id:
            raise BadInput("passage_id is empty; use a passage_id from search_corpus or ask_corpus, like \"<source>#12\"")
        stored = searcher.passage(passage_id, context=args["context"])
        passages = [sp.passage for sp in stored]
        target = next(i for i, p in enumerate(passages) if p.passage_id == passage_id)
        return {"passage": _passage_dict(passages[target]),
                "before": [_passage_dict(p) for p in passages[:target]],
                "after": [_passage_dict(p) for p in passages[target + 1:]]}
    # list_documents
    if args["offset"] < 0:
        raise BadInput(f"offset must be at least 0 (got {args['offset']})")
    if not 1 <= args["limit"] <= MAX_LIST:
        raise BadInput(f"limit must be between 1 and {MAX_LIST} (got {args['limit']})")
    docs = searcher.documents()
    page = docs[args["offset"]:args["offset"] + args["limit"]]
    return {"documents": [{"source": d["source"], "title": d["title"], "passages": d["passages"],
                           "chars": d["chars"]} for d in page],
            "total": len(docs), "offset": args["offset"], "limit": args["limit"]}


def call_tool(searcher, name: str, arguments: Mapping[str, Any] | None) -> dict:
    """Dispatch one tool call from a tool-calling loop: the JSON result, or on a bad call
    ``{"error": {"code": ..., "message": ...}}`` (the HTTP API's error shape) for the model to read."""
    try:
        return run_tool(searcher, name, arguments)
    except WendaError as exc:
        return {"error": {"code": exc.code, "message": str(exc)}}


# -- the compact text rendering, for text-only models -----------------------------------------

def cite_line(n: int, item: Mapping[str, Any]) -> str:
    """``[1] source《title》 › section path (第N段, 字符 start–end)``."""
    where = " › ".join([f"{item['source']}《{item['title']}》", *item.get("section", [])])
    return f"[{n}] {where} (第{item['paragraph']}段, 字符 {item['start']}–{item['end']})"


def _numbered(items: list[Mapping[str, Any]], first: int = 1) -> str:
    return "\n\n".join(f"{cite_line(i, it)}\n{it['text'].strip()}" for i, it in enumerate(items, first))


def render_result(name: str, result: Mapping[str, Any]) -> str:
    """A tool result as compact text: numbered passages a model can cite as [1], [2], ..."""
    if "error" in result:
        return f"错误：{result['error']['message']}"
    if name == "search_corpus":
        hits = result["hits"]
        if not hits:
            return f"没有找到与「{result['query']}」相关的段落。"
        return f"与「{result['query']}」最相关的 {len(hits)} 个段落：\n\n{_numbered(hits)}"
    if name == "ask_corpus":
        if result["found"]:
            cites = result["citations"] or result["passages"][:1]
            short = result.get("answer_span")
            head = f"答案：{short['text']}\n\n原文：{result['answer']}" if short else f"答案：{result['answer']}"
            return f"{head}\n\n依据：\n\n{_numbered(cites)}"
        text = f"{result['answer']}（found=false：语料中没有找到这个问题的答案）"
        if result["passages"]:
            text += f"\n\n最接近的段落（仅供参考）：\n\n{_numbered(result['passages'][:3])}"
        return text
    if name == "get_passage":
        items = [*result["before"], result["passage"], *result["after"]]
        mark = len(result["before"]) + 1
        return f"段落 {result['passage']['passage_id']}（[{mark}]；其余为前后相邻段落）：\n\n{_numbered(items)}"
    if name == "list_documents":
        docs = result["documents"]
        first = result.get("offset", 0) + 1
        total = result.get("total", len(docs))
        lines = [f"{i}. {d['source']}《{d['title']}》：{d['passages']} 段，{d['chars']} 字"
                 for i, d in enumerate(docs, first)]
        head = f"语料库共 {total} 篇文档" + (f"（这里是第 {first}–{first + len(docs) - 1} 篇，用 offset 翻页）"
                                          if docs and len(docs) < total else "")
        return head + "：\n" + "\n".join(lines)
    raise NotFound(f"no tool {name!r}")
