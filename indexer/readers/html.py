"""HTML with selectolax: the main content (<article> or <main> where present, else <body>) without
scripts, navigation, headers and footers; h1-h6 as the section path; the charset taken from a
byte-order mark, the page's own declaration, strict UTF-8, or detection, in that order."""
from __future__ import annotations

import codecs
import re

from ..errors import UnreadableDocument
from . import Extracted, missing
from .structured import StructuredText, squeeze

_DECLARED = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_NOT_CONTENT = "script, style, noscript, template, nav, header, footer, aside, form, iframe, svg, canvas, button, select"
_BLOCKS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre", "tr", "dt", "dd", "figcaption",
           "caption", "address"}
_CHINESE = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb18030": "gb18030", "cp936": "gb18030"}
CELL_SEPARATOR = " | "


def _codec(label: str) -> str | None:
    label = label.strip().lower()
    label = _CHINESE.get(label, label)      # GB18030 is a superset of GBK and GB2312
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode(data: bytes) -> tuple[str, str]:
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(name, errors="replace"), name
    declared = _DECLARED.search(data[:4096])
    codec = _codec(declared.group(1).decode("ascii", "ignore")) if declared else None
    if codec:
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            pass                        # a wrong declaration: fall through to detection
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes
    except ImportError as exc:
        raise UnreadableDocument(missing("charset-normalizer", "HTML in legacy charsets")) from exc
    best = from_bytes(data).best()
    if best is None:
        raise UnreadableDocument("is HTML in an undetectable charset")
    codec = _codec(best.encoding) or "utf-8"
    return data.decode(codec, errors="replace"), codec


def looks_like_html(head: str) -> bool:
    head = head.lstrip("\ufeff \t\r\n").lower()
    return head.startswith(("<!doctype html", "<html", "<?xml")) and "<html" in head[:2048] \
        or head.startswith(("<head", "<body"))


def _row_text(row) -> str:
    cells = [squeeze(c.text(separator=" ")) for c in row.iter() if c.tag in ("td", "th")]
    return CELL_SEPARATOR.join(c for c in cells if c)


def read(data: bytes, name: str) -> Extracted:
    try:
        from selectolax.lexbor import LexborHTMLParser
    except ImportError as exc:
        raise UnreadableDocument(missing("selectolax", "HTML pages")) from exc
    html, encoding = decode(data)
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = squeeze(title_node.text()) if title_node is not None else ""
    for node in tree.css(_NOT_CONTENT):
        node.decompose()
    root = tree.css_first("article") or tree.css_first("main") or tree.body
    out = StructuredText()
    if root is not None:
        blocks = [n for n in root.traverse(include_text=False) if n.tag in _BLOCKS]
        chosen = set()
        for node in blocks:
            parent, nested = node.parent, False
            while parent is not None and parent is not root:
                if parent.mem_id in chosen:
                    nested = True
                    break
                parent = parent.parent
            if nested:
                continue
            chosen.add(node.mem_id)
        h1s = [n for n in blocks if n.tag == "h1" and n.mem_id in chosen]
        first_heading = next((n for n in blocks if n.tag[0] == "h" and n.tag[1:].isdigit()), None)
        for node in blocks:
            if node.mem_id not in chosen:
                continue
            if node.tag == "tr":
                out.paragraph(_row_text(node))
            elif node.tag[0] == "h" and node.tag[1:].isdigit():
                level = int(node.tag[1:])
                # a page's only <h1>, above every other heading, is its title, not a section
                if level == 1 and len(h1s) == 1 and node.mem_id == first_heading.mem_id:
                    level = 0
                    title = squeeze(node.text(separator=" ")) or title
                out.heading(node.text(separator=" "), level)
            else:
                out.paragraph(node.text(separator=" "))
        if not chosen:              # a page of bare <div>s: its text lines
            for line in root.text(separator="\n").splitlines():
                out.paragraph(line)
    return out.build("html", encoding, title or None, "is an HTML page without visible text")
