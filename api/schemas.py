"""Request and response models of the HTTP API (they are the OpenAPI schema at /openapi.json).

Requests are separate models from responses; requests forbid unknown fields. Every field carries
a description and a Chinese example. The shapes are the contract's (../shared/CONTRACT.md).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_SOURCE = "002_d4cb951aedcfedf9.txt"
_PASSAGE_ID = f"{_SOURCE}#8"
_TITLE = "抢占新赛道 培育新动能"
_TEXT = "目前,徐汇区已有人工智能相关企业约710家,2017年至2021年人工智能相关产业总产出年均增长率约37%。"


# -- errors -----------------------------------------------------------------------------------

class ErrorDetail(BaseModel):
    code: str = Field(description="机器可读的错误代码，例如 bad_input、too_large、not_found、unauthorized、"
                                  "validation_error、not_ready、timeout、internal_error。",
                      examples=["bad_input"])
    message: str = Field(description="给人看的一句话说明，告诉用户该怎么改。",
                         examples=["the query is empty"])


class ErrorResponse(BaseModel):
    """Every error of this API has this shape, whatever its status."""

    error: ErrorDetail = Field(description="出了什么错。")


# -- requests ---------------------------------------------------------------------------------

class AskRequest(BaseModel):
    """A question to answer from the corpus."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "徐汇区有多少家人工智能企业？", "k": 5, "llm": False}]})

    question: str = Field(min_length=1, description="要回答的问题，用自然语言写（中文最佳）。"
                                                    "超过服务器的 max_query_chars（默认 2000 字）时返回 413。",
                          examples=["徐汇区有多少家人工智能企业？", "普陀区累计开通了多少个5G室外基站？"])
    k: int = Field(5, ge=1, description="随答案一起返回多少个支撑段落，默认 5；超过服务器上限 max_k（默认 50）时"
                                        "按上限处理，不报错。", examples=[5])
    doc: str | None = Field(None, max_length=500,
                            description="只在来源文件名匹配这个通配符（glob）的文档里找，例如 \"002_*\"。",
                            examples=["002_*.txt"])
    llm: bool = Field(False, description="为 true 时由服务器配置的 OpenAI 兼容大模型撰写答案（需要 WENDA_LLM_BASE_URL "
                                         "和 WENDA_LLM_MODEL），答案仍须引用原文；否则为原文摘录答案。",
                      examples=[False])


# -- responses --------------------------------------------------------------------------------

class HitScores(BaseModel):
    dense: float = Field(description="问题与段落向量的余弦相似度。", examples=[0.8712])
    lexical: float = Field(description="按 jieba 分词的 BM25 分数（没有词命中时为 0）。", examples=[12.31])
    grams: float = Field(description="按汉字二元组的 BM25 分数。", examples=[18.02])
    fused: float = Field(description="三路分数融合后的分数（未经排序模型时即 score）。", examples=[4.1017])
    ranked: float | None = Field(default=None, description="排序模型的分数（即 score）；未使用排序模型时没有此项。",
                                 examples=[2.3141])


class Hit(BaseModel):
    """A search hit, also each citation of an answer: ``text == document_text[start:end]``."""

    rank: int = Field(description="名次，从 1 开始。", examples=[1])
    score: float = Field(description="排序分数，越大越相关。", examples=[4.1017])
    passage_id: str = Field(description="段落编号：\"<来源文件>#<段序号>\"。", examples=[_PASSAGE_ID])
    source: str = Field(description="来源文件相对于索引根目录的路径。", examples=[_SOURCE])
    title: str = Field(description="文档标题。", examples=[_TITLE])
    section: list[str] = Field(description="段落上方的章节标题路径，外层在前；没有则为空列表。",
                               examples=[["厚植沃土构建产业生态"]])
    paragraph: int = Field(description="段落在文档中的序号（第 N 段，从 1 开始）。", examples=[8])
    start: int = Field(description="在来源文件解码后文本中的起始字符偏移（Unicode 码点，含）。", examples=[1255])
    end: int = Field(description="结束字符偏移（不含）。", examples=[1362])
    text: str = Field(description="原文，恰好等于 文件文本[start:end]。", examples=[_TEXT])
    highlight: str = Field(description="已做 HTML 转义的展示文本，命中的词用 <mark> 标出。",
                           examples=["目前,<mark>徐汇区</mark>已有<mark>人工智能</mark>相关<mark>企业</mark>约710家"])
    page: int | None = Field(None, description="仅 PDF：段落（或引用片段）起始所在页，从 1 开始。", examples=[3])
    page_end: int | None = Field(None, description="仅 PDF：结束所在页。", examples=[4])
    scores: HitScores | None = Field(None, description="各检索信号的分数（调试用）。")


class SearchResponse(BaseModel):
    query: str = Field(description="实际检索的查询（去掉控制字符、合并空白之后）。", examples=["徐汇区有多少家人工智能企业"])
    hits: list[Hit] = Field(description="按相关度排列的段落。")
    took_ms: float = Field(description="检索耗时（毫秒）。", examples=[42.5])
    corrected: str | None = Field(None, description="纠正同音错字后实际检索的查询（如“普佗区”→“普陀区”）；没有纠正时省略。",
                                  examples=["普陀区开通了多少5G室外基站"])


class AnswerSpan(BaseModel):
    text: str = Field(description="简短答案：答案句中回答所问类型的短语；恰好等于 文件文本[start:end]。", examples=["约710家"])
    source: str = Field(description="所在文件（与第一条出处相同）。", examples=["002_d4cb951aedcfedf9.txt"])
    start: int = Field(description="在文件文本中的起始字符位置。", examples=[1532])
    end: int = Field(description="结束字符位置（不含）。", examples=[1536])


class AskResponse(BaseModel):
    question: str = Field(description="实际回答的问题。", examples=["徐汇区有多少家人工智能企业？"])
    found: bool = Field(description="语料中有没有答案；为 false 时 answer 会直说没有找到。", examples=[True])
    answer: str = Field(description="简短答案（原文摘录或大模型撰写），或“语料中没有找到答案”。",
                        examples=["目前,徐汇区已有人工智能相关企业约710家。"])
    citations: list[Hit] = Field(description="答案所依据的原文片段，编号即 [1]、[2]…；text 恰好等于 文件文本[start:end]。")
    passages: list[Hit] = Field(description="检索到的支撑段落，按相关度排列。")
    took_ms: float = Field(description="耗时（毫秒）。", examples=[310.2])
    confidence: float = Field(description="答案置信度（0–1），低于阈值时 found 为 false。", examples=[0.7726])
    mode: str = Field(description="\"extractive\"（原文摘录）或 \"llm\"（大模型撰写）。", examples=["extractive"])
    answer_span: AnswerSpan | None = Field(None, description="问数量、时间、人物、机构、地点时，答案句中的简短答案；其他问题为 null。")
    note: str | None = Field(None, description="补充说明，例如大模型答案为何未被采用。",
                             examples=["LLM 回答未采用（timed out），以下为原文摘录答案。"])
    corrected: str | None = Field(None, description="纠正同音错字后实际回答的问题；没有纠正时省略。",
                                  examples=["普陀区开通了多少5G室外基站"])


class DocumentSummary(BaseModel):
    """A document as the list_documents tool shows it."""

    source: str = Field(description="来源文件相对于索引根目录的路径。", examples=[_SOURCE])
    title: str = Field(description="文档标题。", examples=[_TITLE])
    passages: int = Field(description="段落数。", examples=[26])
    chars: int = Field(description="字符数（Unicode 码点）。", examples=[3766])


class DocumentList(BaseModel):
    documents: list[DocumentSummary] = Field(description="这一页的文档（按来源文件名排序）。")
    total: int = Field(description="索引中的文档总数。", examples=[5])
    offset: int = Field(description="这一页从第几篇开始（0 起）。", examples=[0])
    limit: int = Field(description="每页最多几篇。", examples=[50])


class DocumentInfo(DocumentSummary):
    """A document as GET /api/documents lists it: the summary and its file's checksum."""

    sha256: str = Field(description="源文件字节的 SHA-256。",
                        examples=["eb5a5ace61b606553f7960083189217844582f1578c94dfdab015847eb5a1910"])


class Passage(BaseModel):
    passage_id: str = Field(description="段落编号：\"<来源文件>#<段序号>\"。", examples=[_PASSAGE_ID])
    source: str = Field(description="来源文件。", examples=[_SOURCE])
    title: str = Field(description="文档标题。", examples=[_TITLE])
    section: list[str] = Field(description="章节标题路径，外层在前。", examples=[["厚植沃土构建产业生态"]])
    paragraph: int = Field(description="第 N 段（从 1 开始）。", examples=[8])
    start: int = Field(description="起始字符偏移（含）。", examples=[1255])
    end: int = Field(description="结束字符偏移（不含）。", examples=[1362])
    text: str = Field(description="原文，恰好等于 文件文本[start:end]。", examples=[_TEXT])


class DocumentPage(BaseModel):
    page: int = Field(description="页码，从 1 开始。", examples=[1])
    start: int = Field(description="这一页文字在 text 中的起始字符偏移（含）。", examples=[0])
    end: int = Field(description="结束字符偏移（不含）。", examples=[812])


class DocumentResponse(BaseModel):
    source: str = Field(description="来源文件。", examples=[_SOURCE])
    title: str = Field(description="文档标题。", examples=[_TITLE])
    chars: int = Field(description="字符数（Unicode 码点）。", examples=[3766])
    sha256: str = Field(description="源文件字节的 SHA-256。",
                        examples=["eb5a5ace61b606553f7960083189217844582f1578c94dfdab015847eb5a1910"])
    text: str = Field(description="文档全文（从文件提取的文本：txt/md 即解码后的文件文本，PDF、Word、HTML 为提取出的文字；偏移以它为准）。",
                      examples=["\n\n# 抢占新赛道 培育新动能\n\n## ——上海徐汇区科创产业发展调查\n\n…"])
    passages: list[Passage] = Field(description="文档的全部段落，按顺序，带字符偏移。")
    pages: list[DocumentPage] = Field(description="PDF 每一页在 text 中的字符范围；其他格式为空列表。")


class PassageResponse(BaseModel):
    passage: Passage = Field(description="所要的段落。")
    before: list[Passage] = Field(description="前面的相邻段落（按文档顺序），最多 context 个。")
    after: list[Passage] = Field(description="后面的相邻段落（按文档顺序），最多 context 个。")


class ToolFunction(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(description="工具名。", examples=["search_corpus"])
    description: str = Field(description="给大模型看的工具说明。",
                             examples=["在本地语料库（五篇中文文章：…）中做语义+关键词混合检索…"])
    parameters: dict = Field(description="参数的 JSON Schema。",
                             examples=[{"type": "object", "properties": {"query": {"type": "string"}},
                                        "required": ["query"]}])


class ToolSchema(BaseModel):
    """One OpenAI function-calling tool: pass the list as ``tools=`` to any compatible endpoint."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="总是 \"function\"。", examples=["function"])
    function: ToolFunction = Field(description="函数的名字、说明和参数。")


class HealthResponse(BaseModel):
    status: str = Field(description="进程活着就是 \"ok\"（不访问索引）。", examples=["ok"])


class ReadyResponse(BaseModel):
    status: str = Field(description="索引和模型已加载时为 \"ready\"。", examples=["ready"])
    generation: str = Field(description="正在服务的索引构建编号。", examples=["gen-20261122T044819-b51ba8"])
    model: str = Field(description="嵌入模型名。", examples=["multilingual-e5-small"])
    documents: int = Field(description="文档数。", examples=[5])
    passages: int = Field(description="段落数。", examples=[156])
