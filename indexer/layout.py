"""Reading the layout of extracted Chinese text: which lines are headings, captions, bylines or
body, and which body lines continue a sentence broken by PDF or newspaper extraction.

Works on offsets only; the text itself is never changed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# Line breaks we honour; \r\n counts as one.
_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
# Stripped at line edges in addition to str.isspace() characters: zero-width marks.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"

# The one definition of sentence and clause boundaries, for chunking, answers and LLM replies.
# A sentence ends at 。！？… ; a semicolon joins the parts of one Chinese sentence, so it ends a
# clause (with ，：、) — but a *line* ending in ； closes, as list items do (``ends_sentence``).
SENTENCE_STOPS = "。！？!?…"
CLAUSE_STOPS = "，,；;：:、"
# Closing quotes/brackets that may follow a sentence end: “……。”
CLOSERS = "”’」』）)》】〕\"'"
SENTENCE_BOUNDARY = re.compile(rf"[{re.escape(SENTENCE_STOPS)}]+[{re.escape(CLOSERS)}]*|\.(?=\s|$)")
CLAUSE_BOUNDARY = re.compile(rf"[{re.escape(CLAUSE_STOPS + SENTENCE_STOPS)}]+[{re.escape(CLOSERS)}]*|——")
_LINE_CLOSERS = SENTENCE_STOPS + "；;"
# A line ending in one of these is mid-sentence even though it ends in punctuation.
CONTINUES = "，,、：:（(“‘《【—-"
_CLAUSE_PUNCT = re.compile(r"[，,、；;：:。！？!?“”\"（）()《》【】]")
_WORDISH = re.compile(r"[\w\u4e00-\u9fff]")

_MARKDOWN = re.compile(r"^(#{1,6})\s*(.*?)\s*#*$")
_NUMBERED = [
    ("chapter", re.compile(r"^第[一二三四五六七八九十百零〇\d]+[章节篇部]")),
    ("cn", re.compile(r"^[一二三四五六七八九十百零〇]+\s*[、.．]")),
    ("cn-paren", re.compile(r"^[（(]\s*[一二三四五六七八九十百零〇]+\s*[）)]")),
    ("num", re.compile(r"^\d{1,2}\s*[.．、](?!\d)")),
    ("num-paren", re.compile(r"^[（(]\s*\d{1,2}\s*[）)]")),
]
_CAPTION = re.compile(
    r"^图\s*[①-⑳\d一二三四五六七八九十]|[（(]\s*(资料|新华社|本报)?(图片|照片|摄)\s*[）)]\s*$"
    r"|(摄|供图|图片来源[^。]*|以上图片[^。]*)\s*$"
)
_BYLINE = re.compile(
    r"^(本报记者|记者|特约记者|通讯员|本版编辑|责任编辑|编辑|美编|版式设计|校对|作者简介|作者[:：]"
    r"|本文参与撰写人员|基金项目|来源[:：])"
)
_FOOTNOTE = re.compile(r"^[¹²³⁴⁵⁶⁷⁸⁹⁰]+")
_NAMES = re.compile(r"^[\u4e00-\u9fff]{2,3}(?:[ \u3000]+[\u4e00-\u9fff]{2,3})+$")
_LABEL = re.compile(r"^【[^】]{1,12}】")


class Kind(Enum):
    HEADING = "heading"
    CAPTION = "caption"     # picture captions and text lifted from pictures
    BYLINE = "byline"       # authors, editors, footnotes: not part of the article's prose
    LABELLED = "labelled"   # 【摘要】: ... lines, each its own paragraph
    BODY = "body"
    TITLE = "title"         # the document title block: title, subtitles, authors


@dataclass(slots=True)
class Line:
    start: int              # offsets of the line's visible content (edges stripped)
    end: int
    text: str
    blank_before: int       # blank lines just above
    kind: Kind = Kind.BODY
    style: str = ""         # heading style: "md2", "cn", "num", "plain"...
    heading: str = ""       # heading text without markdown marks


def split_lines(text: str) -> list[Line]:
    """Non-blank lines with stripped offsets and the number of blank lines above each."""
    lines: list[Line] = []
    pos = 0
    blanks = 0
    for match in [*_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        s, e = pos, end
        while s < e and (text[s].isspace() or text[s] in _INVISIBLE):
            s += 1
        while e > s and (text[e - 1].isspace() or text[e - 1] in _INVISIBLE):
            e -= 1
        if s < e:
            lines.append(Line(s, e, text[s:e], blanks))
            blanks = 0
        else:
            blanks += 1
        pos = match.end() if match else len(text)
    return lines


def ends_sentence(text: str) -> bool:
    """True when the line closes its sentence (。 ！ ？ ； … possibly followed by closing quotes)."""
    stripped = text.rstrip(CLOSERS + " \u3000")
    if not stripped:
        return False
    last = stripped[-1]
    if last in _LINE_CLOSERS:
        return True
    # An English full stop (not a decimal point) also ends a sentence.
    return last == "." and not (len(stripped) > 1 and stripped[-2].isdigit())


def _heading_style(line: Line, heading_max: int) -> tuple[str, str] | None:
    text = line.text
    md = _MARKDOWN.match(text)
    if md and md.group(2):
        return f"md{len(md.group(1))}", md.group(2)
    for style, pattern in _NUMBERED:
        if pattern.match(text):
            limit = heading_max + 10 if ends_sentence(text) else heading_max + 20
            if len(text) <= limit and text.count("。") <= 1:
                return style, text
            return None
    if (len(text) <= heading_max and not ends_sentence(text) and text[-1] not in CONTINUES
            and len(_WORDISH.findall(text)) >= 2 and text[0] not in CLOSERS + "，,、。"
            and _balanced_parts(text)):
        return "plain", text
    return None


def _balanced_parts(text: str) -> bool:
    """Headings with inner punctuation are parallel phrases ("集聚优质资源，深化协同创新"):
    short parts, no quotations. A long part or a quote means a fragment of a sentence."""
    if not _CLAUSE_PUNCT.search(text):
        return True
    parts = [p for p in re.split(r"[，,、；;：:\s]+", text) if p]
    return not re.search(r"[“”\"「」]", text) and all(2 <= len(p) <= 12 for p in parts)


def is_strict_heading(line: Line) -> bool:
    """A heading that cannot be the tail of a broken sentence: marked up, numbered, or
    free of any punctuation."""
    return line.style != "plain" or not _CLAUSE_PUNCT.search(line.text)


def classify(lines: list[Line], heading_max: int = 30) -> str | None:
    """Set kind/style/heading on each line, in place; return the document title, if any."""
    for line in lines:
        text = line.text
        if _FOOTNOTE.match(text) or _BYLINE.match(text) or _NAMES.match(text):
            line.kind = Kind.BYLINE
        elif _CAPTION.search(text) and len(text) <= 120:
            line.kind = Kind.CAPTION
        elif _LABEL.match(text):
            line.kind = Kind.LABELLED
        else:
            found = _heading_style(line, heading_max)
            if found:
                line.kind, (line.style, line.heading) = Kind.HEADING, found
    title = _mark_title_block(lines)
    for line in lines:
        # A short unpunctuated line set apart by extra blank lines is a picture caption.
        if ((line.kind is Kind.HEADING and line.style == "plain") or line.kind is Kind.BODY) \
                and line.blank_before >= 2 and len(line.text) <= heading_max \
                and not re.search(r"[，,、；;：:。！？!?]", line.text):
            line.kind = Kind.CAPTION
    _mark_picture_text(lines)
    return title


def _mark_title_block(lines: list[Line]) -> str | None:
    """The lines above the first paragraph: the title, then subtitles and bylines."""
    title = None
    for i, line in enumerate(lines):
        if i == 0 and line.kind is Kind.BODY and len(line.text) <= 40 and not ends_sentence(line.text):
            line.kind, line.style, line.heading = Kind.HEADING, "plain", line.text
        if line.kind in (Kind.BODY, Kind.LABELLED):
            break
        if line.kind is Kind.HEADING:
            if title is None:
                if not (line.style == "plain" or line.style.startswith("md")):
                    break
                title = line.heading
            elif not (line.style == "plain" or line.heading.startswith(("—", "-", "–"))):
                break
        line.kind = Kind.TITLE
    return title


def _mark_picture_text(lines: list[Line]) -> None:
    """Three or more plain 'headings' in a row with no prose between them are text lifted from
    a picture or a layout box (dates, organisers, slogans), not an outline."""
    run: list[Line] = []

    def flush() -> None:
        if sum(1 for ln in run if ln.kind is Kind.HEADING) >= 3:
            for ln in run:
                ln.kind = Kind.CAPTION
        run.clear()

    for line in lines:
        if line.kind is Kind.HEADING and line.style == "plain":
            run.append(line)
        elif line.kind in (Kind.CAPTION, Kind.BYLINE):
            if run:
                run.append(line)
        else:
            flush()
    flush()
