"""The seeds as the documents people have: PDFs with a text layer, a scanned PDF (page images
only), Word .docx and HTML pages, rendered from seeds/*.txt for bench/documents.py.

    python bench/render_documents.py OUT_DIR        # writes OUT_DIR/{pdf,docx,html,scan}/

Each seed is read into blocks (title, subtitles, headings, paragraphs) with the indexer's own
line classification (indexer/layout.py); lines of one paragraph that the seed's extraction broke
mid-sentence are rejoined, as they are in the original documents. Every format carries what real
files carry around the text: PDFs a running header and a page number on every page (A4, the
WenQuanYi Micro Hei CJK font, headings bold), .docx a page header and footer, HTML a site header,
a navigation bar and a footer. Those strings are in RUNNING below, so the benchmark can count
them inside passages. File bytes are reproducible (fixed creation dates).
"""
from __future__ import annotations

import datetime as dt
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wenda.indexer.layout import Kind, classify, ends_sentence, is_strict_heading, split_lines  # noqa: E402

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FIXED_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

# What the files carry besides the article (none of it occurs in the seeds).
PDF_HEADER = "上海数字经济专题资料汇编"
DOCX_HEADER = "上海数字经济专题资料汇编（内部资料）"
DOCX_FOOTER = "仅供研究参考 请勿外传"
HTML_SITE = "上海数字经济资料网"
HTML_NAV = ["首页", "政策解读", "产业调查", "专家观点", "联系我们"]
HTML_FOOTER = "版权所有 上海数字经济资料网 沪ICP备00000000号"
RUNNING = {"pdf": [PDF_HEADER], "docx": [DOCX_HEADER, DOCX_FOOTER],
           "html": [HTML_SITE, " | ".join(HTML_NAV), HTML_FOOTER], "scan": [PDF_HEADER]}
PAGE_NUMBER = re.compile(r"(?<![\w-])-\s+\d{1,3}\s+-(?![\w-])")        # how the page numbers are printed: "- 3 -"
_MD = re.compile(r"^#{1,6}\s*")
_ASCII = re.compile(r"[A-Za-z0-9]")


@dataclass
class Block:
    kind: str           # "title", "subtitle", "heading", "para"
    text: str
    level: int = 0      # headings: 1 = outermost section


def seed_blocks(text: str) -> list[Block]:
    """The seed's title block, headings and paragraphs, in order."""
    lines = split_lines(text)
    classify(lines)
    blocks: list[Block] = []
    styles: list[str] = []
    open_para: Block | None = None      # a paragraph whose last sentence is still open
    for line in lines:
        body = line.text.replace("**", "").strip()     # markdown bold marks of the extraction
        if line.kind in (Kind.TITLE, Kind.HEADING):
            body = _MD.sub("", body)
        if line.kind is Kind.TITLE:
            blocks.append(Block("subtitle" if any(b.kind == "title" for b in blocks) else "title", body))
            continue
        if line.kind is Kind.HEADING and not (open_para is not None and not is_strict_heading(line)):
            if line.style not in styles:
                styles.append(line.style)
            blocks.append(Block("heading", (line.heading or body).replace("**", ""), styles.index(line.style) + 1))
            open_para = None
            continue
        if line.kind in (Kind.CAPTION, Kind.BYLINE):
            blocks.append(Block("para", body))      # an open sentence may resume after it
            continue
        if open_para is not None:
            gap = " " if _ASCII.match(open_para.text[-1:]) and _ASCII.match(body[:1]) else ""
            open_para.text += gap + body
        else:
            open_para = Block("para", body)
            blocks.append(open_para)
        if ends_sentence(body) or line.kind is Kind.LABELLED:
            open_para = None
    return blocks


def title_of(blocks: list[Block], fallback: str) -> str:
    return next((b.text for b in blocks if b.kind == "title"), fallback)


def rendered_text(blocks: list[Block]) -> str:
    """Everything the article shows, block by block (the reference for OCR accuracy)."""
    return "\n".join(b.text for b in blocks)


# -- PDF with a text layer (fpdf2)

def _fpdf_class():
    from fpdf import FPDF

    class SeedPDF(FPDF):
        def header(self) -> None:
            self.set_font("wqy", size=9)
            self.set_text_color(90)
            self.set_xy(20, 10)
            self.cell(0, 5, PDF_HEADER, align="C")
            self.set_draw_color(150)
            self.line(20, 16.5, 190, 16.5)
            self.set_text_color(0)
            self.set_xy(20, 24)

        def footer(self) -> None:
            self.set_font("wqy", size=9)
            self.set_xy(20, -16)
            self.cell(0, 5, f"- {self.page_no()} -", align="C")

    return SeedPDF


def render_pdf(blocks: list[Block], body_pt: float = 11.0) -> bytes:
    """A4, 20 mm side margins, running header and page number on every page, headings bold."""
    pdf = _fpdf_class()(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.add_font("wqy", fname=str(FONT))
    pdf.set_margins(20, 24, 20)
    pdf.set_auto_page_break(True, margin=22)
    pdf.add_page()
    line_h = body_pt * 0.55
    for b in blocks:
        if b.kind == "title":
            _bold(pdf, b.text, 18, 10, align="C")
            pdf.ln(2)
        elif b.kind == "subtitle":
            pdf.set_font("wqy", size=12)
            pdf.multi_cell(0, 7, b.text, align="C")
            pdf.ln(2)
        elif b.kind == "heading":
            pdf.ln(2)
            _bold(pdf, b.text, body_pt + max(0, 3 - b.level), line_h + 1)
            pdf.ln(1)
        else:
            pdf.set_font("wqy", size=body_pt)
            pdf.multi_cell(0, line_h, b.text, align="L")
            pdf.ln(line_h * 0.6)
    return bytes(pdf.output())


def _bold(pdf, text: str, size: float, height: float, align: str = "L") -> None:
    """WenQuanYi Micro Hei has no bold face: stroke the glyph outlines as well (what word
    processors do for a font without one)."""
    from fpdf.enums import TextMode

    pdf.set_font("wqy", size=size)
    with pdf.local_context(text_mode=TextMode.FILL_STROKE, line_width=size * 0.012):
        pdf.multi_cell(0, height, text, align=align)


# -- a scan: the pages drawn as pictures with PIL, put into a PDF that has no text layer

def render_scan(blocks: list[Block], dpi: int = 200) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    mm = dpi / 25.4
    width, height = round(210 * mm), round(297 * mm)
    left, right, top, bottom = 20 * mm, width - 20 * mm, 26 * mm, height - 24 * mm

    def font(pt: float):
        return ImageFont.truetype(str(FONT), round(pt * dpi / 72))

    pages: list = []
    state = {"y": 0.0}
    draw = None

    def new_page():
        nonlocal draw
        image = Image.new("L", (width, height), 255)
        pages.append(image)
        draw = ImageDraw.Draw(image)
        f = font(9)
        w = draw.textlength(PDF_HEADER, font=f)
        draw.text(((width - w) / 2, 10 * mm), PDF_HEADER, font=f, fill=90)
        draw.line([(left, 16.5 * mm), (right, 16.5 * mm)], fill=150, width=2)
        number = f"- {len(pages)} -"
        draw.text(((width - draw.textlength(number, font=f)) / 2, height - 16 * mm), number, font=f, fill=0)
        state["y"] = top

    def paragraph(text: str, pt: float, spacing: float, bold: bool = False, centre: bool = False,
                  after: float = 0.0):
        f = font(pt)
        line_h = pt * dpi / 72 * spacing
        for line in _wrap(draw, text, f, right - left):
            if state["y"] + line_h > bottom:
                new_page()
            x = left + ((right - left - draw.textlength(line, font=f)) / 2 if centre else 0)
            draw.text((x, state["y"]), line, font=f, fill=0, stroke_width=1 if bold else 0, stroke_fill=0)
            state["y"] += line_h
        state["y"] += after * dpi / 72

    new_page()
    for b in blocks:
        if b.kind == "title":
            paragraph(b.text, 18, 1.5, bold=True, centre=True, after=6)
        elif b.kind == "subtitle":
            paragraph(b.text, 12, 1.5, centre=True, after=6)
        elif b.kind == "heading":
            state["y"] += 6 * dpi / 72
            paragraph(b.text, 11 + max(0, 3 - b.level), 1.5, bold=True, after=3)
        else:
            paragraph(b.text, 11, 1.55, after=8)
    out = io.BytesIO()
    pages[0].save(out, format="PDF", resolution=float(dpi), save_all=True, append_images=pages[1:])
    return out.getvalue()


def _wrap(draw, text: str, font, width: float) -> list[str]:
    """Lines no wider than ``width``: CJK breaks anywhere, a run of ASCII letters stays whole."""
    tokens = re.findall(r"[A-Za-z0-9.%]+|\s+|.", text)
    lines, current = [], ""
    for tok in tokens:
        if draw.textlength(current + tok, font=font) <= width or not current:
            current += tok
        else:
            lines.append(current.rstrip())
            current = tok.lstrip()
    if current.strip():
        lines.append(current.rstrip())
    return lines


# -- Word .docx (python-docx)

def render_docx(blocks: list[Block], path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.core_properties.title = title_of(blocks, path.stem)
    doc.core_properties.created = doc.core_properties.modified = FIXED_DATE.replace(tzinfo=None)
    section = doc.sections[0]
    section.header.paragraphs[0].text = DOCX_HEADER
    section.footer.paragraphs[0].text = DOCX_FOOTER
    for b in blocks:
        if b.kind == "title":
            doc.add_heading(b.text, level=0)
        elif b.kind == "subtitle":
            doc.add_paragraph(b.text, style="Subtitle")
        elif b.kind == "heading":
            doc.add_heading(b.text, level=min(b.level, 9))
        else:
            doc.add_paragraph(b.text)
    doc.save(path)


# -- HTML

def render_html(blocks: list[Block]) -> bytes:
    from html import escape

    title = title_of(blocks, "")
    body = []
    for b in blocks:
        if b.kind == "title":
            body.append(f"<h1>{escape(b.text)}</h1>")
        elif b.kind == "subtitle":
            body.append(f'<p class="subtitle">{escape(b.text)}</p>')
        elif b.kind == "heading":
            n = min(b.level + 1, 6)
            body.append(f"<h{n}>{escape(b.text)}</h{n}>")
        else:
            body.append(f"<p>{escape(b.text)}</p>")
    nav = " | ".join(f'<a href="/{i}">{escape(x)}</a>' for i, x in enumerate(HTML_NAV))
    page = ("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)} - {HTML_SITE}</title>"
            "<style>body{max-width:46em;margin:auto;font-family:sans-serif}</style></head>\n<body>\n"
            f'<header><a href="/">{HTML_SITE}</a></header>\n<nav>{nav}</nav>\n'
            "<article>\n" + "\n".join(body) + "\n</article>\n"
            f"<footer>{HTML_FOOTER}</footer>\n</body></html>\n")
    return page.encode("utf-8")


def render_all(seeds: Path, out: Path, scan_seed: str | None = None) -> dict[str, list[Path]]:
    """pdf/, docx/, html/ (every seed) and scan/ (``scan_seed`` only) under ``out``."""
    made: dict[str, list[Path]] = {"pdf": [], "docx": [], "html": [], "scan": []}
    for kind in made:
        (out / kind).mkdir(parents=True, exist_ok=True)
        for old in (out / kind).iterdir():
            old.unlink()
    for seed in sorted(seeds.glob("*.txt")):
        blocks = seed_blocks(seed.read_text("utf-8"))
        stem = seed.stem
        (out / "pdf" / f"{stem}.pdf").write_bytes(render_pdf(blocks))
        render_docx(blocks, out / "docx" / f"{stem}.docx")
        (out / "html" / f"{stem}.html").write_bytes(render_html(blocks))
        made["pdf"].append(out / "pdf" / f"{stem}.pdf")
        made["docx"].append(out / "docx" / f"{stem}.docx")
        made["html"].append(out / "html" / f"{stem}.html")
        if seed.name == scan_seed:
            (out / "scan" / f"{stem}.pdf").write_bytes(render_scan(blocks))
            made["scan"].append(out / "scan" / f"{stem}.pdf")
    return made


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python bench/render_documents.py OUT_DIR")
    made = render_all(ROOT / "seeds", Path(sys.argv[1]), scan_seed="000_8ea395dd2807991d.txt")
    for kind, paths in made.items():
        print(kind, len(paths), "files")
