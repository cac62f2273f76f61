"""Terminal rendering of hits and answers, for people reading Chinese in a terminal.

Matched terms are bold yellow on a colour terminal; piped output is plain text. Lines wrap by
display width (a CJK character takes two columns).
"""
from __future__ import annotations

import html
import re
import shutil
import unicodedata

from wenda.search.records import Answer, Hit

_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)
_BOLD, _DIM, _YELLOW, _CYAN, _GREEN, _RED, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[33m", "\x1b[36m", "\x1b[32m", "\x1b[31m", "\x1b[0m"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, *codes: str) -> str:
        return f"{''.join(codes)}{text}{_RESET}" if self.color and codes else text


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1
               for ch in _ANSI.sub("", text))


def wrap(text: str, width: int, indent: str) -> list[str]:
    """Wrap by display width, keeping ANSI codes intact; every line gets ``indent``."""
    lines: list[str] = []
    for para in text.split("\n"):
        line, used = "", 0
        for token in re.split(r"(\x1b\[[0-9;]*m)", para):
            if _ANSI.fullmatch(token or "x"):
                line += token
                continue
            for ch in token:
                w = display_width(ch)
                if used + w > width and used:
                    lines.append(indent + line)
                    line, used = "", 0
                line += ch
                used += w
        lines.append(indent + line)
    return lines


def _highlight(hit_html: str, style: Style) -> str:
    text = _MARK.sub(lambda m: style(m.group(1), _BOLD, _YELLOW) if style.color else m.group(1), hit_html)
    return html.unescape(text)


def _where(hit: Hit, style: Style) -> str:
    p = hit.passage
    path = " › ".join(p.section)
    where = style(p.source, _CYAN) + (f" › {path}" if path else "")
    start = p.start if hit.start is None else hit.start
    end = p.end if hit.end is None else hit.end
    return f"{where}  {style(f'第{p.paragraph}段 · 字符 {start}–{end}', _DIM)}"


def terminal_width() -> int:
    return max(40, min(shutil.get_terminal_size((100, 24)).columns, 110))


def render_hits(hits: list[Hit], style: Style, width: int | None = None) -> str:
    width = width or terminal_width()
    out: list[str] = []
    for hit in hits:
        out.append(f"{style(f'{hit.rank:>2}.', _BOLD)} {style(f'{hit.score:.3f}', _GREEN)}  {_where(hit, style)}")
        out.append(f"    {style('《' + hit.passage.title + '》', _DIM)}")
        out.extend(wrap(_highlight(hit.highlight, style), width - 4, "    "))
        out.append("")
    return "\n".join(out)


def render_search(query: str, hits: list[Hit], took_ms: float, style: Style, corrected: str | None = None) -> str:
    if corrected:
        query = f"{corrected}（已纠正：{query}）"
    if not hits:
        return f"没有找到与「{query}」相关的段落。"
    head = style(f"「{query}」 {len(hits)} 条结果 · {took_ms:.0f} ms", _DIM)
    return head + "\n\n" + render_hits(hits, style)


def render_answer(answer: Answer, style: Style) -> str:
    width = terminal_width()
    out: list[str] = []
    label = "答案" if _is_chinese(answer.question) else "Answer"
    colour = _GREEN if answer.found else _RED
    if answer.found:
        before, short, after = split_at_span(answer)
        out.append(style(f"{label}：", _BOLD) + style(before, colour) + style(short, _BOLD, colour)
                   + style(after, colour) if short else style(f"{label}：", _BOLD) + style(answer.answer, _BOLD, colour))
    else:
        out.append(style(answer.answer, _BOLD, colour))
    if answer.note:
        out.append(style(answer.note, _DIM))
    if answer.corrected:
        out.append(style(f"按「{answer.corrected}」回答", _DIM))
    if answer.citations:
        out.append("")
        out.append(style("出处" if _is_chinese(answer.question) else "Sources", _BOLD))
        for i, c in enumerate(answer.citations, 1):
            out.append(f"  [{i}] {_where(c, style)}")
            out.extend(wrap(c.text or "", width - 6, "      "))
    if answer.passages:
        out.append("")
        out.append(style("相关段落" if _is_chinese(answer.question) else "Passages", _BOLD))
        out.append(render_hits(answer.passages, style, width))
    out.append(style(f"{answer.took_ms:.0f} ms · 置信度 {answer.confidence:.2f}", _DIM))
    return "\n".join(out)


def split_at_span(answer: Answer) -> tuple[str, str, str]:
    """The answer text around its short answer ("", "", "" parts when it has none)."""
    if answer.span is None:
        return answer.answer, "", ""
    short = answer.span.text.replace("\n", "")
    at = answer.answer.find(short)
    if at < 0 or not short:
        return answer.answer, "", ""
    return answer.answer[:at], short, answer.answer[at + len(short):]


def _is_chinese(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text)) or not re.search(r"[A-Za-z]", text)
