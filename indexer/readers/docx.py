"""Word .docx with python-docx: paragraphs and tables in body order, heading styles (Heading N,
标题 N, Title) as the section path, each table row one line of its cells' text."""
from __future__ import annotations

import io
import re
import zipfile

from ..errors import UnreadableDocument
from . import Extracted, missing
from .structured import StructuredText, squeeze

MAX_UNPACKED_BYTES = 200 * 2**20     # a .docx's XML beyond this is a zip bomb, not a document
MAX_RATIO = 200                      # nor is one that unpacks to 200x its size
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)
CELL_SEPARATOR = " | "


def check_zip(data: bytes) -> None:
    """Refuse what is not a Word zip, or would unpack to far more than it holds, before any
    XML parser sees it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise UnreadableDocument(f"is not a valid .docx (not a readable zip archive: {exc})") from exc
    if "word/document.xml" not in names:
        raise UnreadableDocument("is a zip archive without word/document.xml, not a Word document")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNPACKED_BYTES or unpacked > MAX_RATIO * max(len(data), 1):
        raise UnreadableDocument(f"unpacks to {unpacked / 2**20:.0f} MB from {len(data) / 2**20:.1f} MB "
                                 "(a zip bomb, not a document)")


def _heading_level(paragraph) -> int | None:
    name = paragraph.style.name if paragraph.style is not None else ""
    if name == "Title":
        return 0
    match = _HEADING_STYLE.match(name or "")
    return int(match.group(1)) if match else None


def read(data: bytes, name: str) -> Extracted:
    check_zip(data)
    try:
        import docx
        from docx.table import Table
    except ImportError as exc:
        raise UnreadableDocument(missing("python-docx", ".docx files")) from exc
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:        # noqa: BLE001 - python-docx and lxml raise many kinds on bad XML
        raise UnreadableDocument(f"is a damaged .docx ({type(exc).__name__}: {exc})") from exc
    out = StructuredText()
    title = squeeze(document.core_properties.title or "") or None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = []
                for cell in row.cells:      # merged cells repeat: keep each text once per row
                    text = squeeze(cell.text)
                    if text and (not cells or cells[-1] != text):
                        cells.append(text)
                out.paragraph(CELL_SEPARATOR.join(cells))
            continue
        level = _heading_level(block)
        if level == 0:
            title = title or squeeze(block.text) or None
            out.heading(block.text, 0)
        elif level is not None:
            out.heading(block.text, level)
        else:
            out.paragraph(block.text)
    return out.build("docx", "", title, "holds no text (an empty Word document)")
