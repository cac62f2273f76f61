"""Real document files made by the tests: PDFs with a CJK font, a scanned page, .docx, GB18030
HTML, and broken files. The Chinese text is written for these tests."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

HEADER = "青岚市水务局年度报告"
FOOTER = "内部资料 注意保存"
PDF_PAGES = [
    ["一、供水概况",
     "青岚市去年新建净水厂两座，日供水能力提高到八十五万吨，全市管网漏损率降至百分之七点二。",
     "城区二次供水泵房完成改造三百一十座，居民投诉数量比前年减少四成。"],
    ["二、排水防涝",
     "汛期前疏通雨水管道一千二百公里，清理检查井四万余座，新建调蓄池六座，总容积达到十二万立方米，"
     "主城区易涝点由二十七处减少到九处。",
     "防汛指挥平台接入水位监测点四百六十个，预警信息平均"],
    ["提前四十分钟发布，沿河居民可以通过短信收到通知。",
     "三、节水行动",
     "全市推广节水器具十八万套，工业用水重复利用率达到百分之九十一。",
     "明年计划在东湖片区试点再生水灌溉绿地，预计每年节约自来水二百万吨。"],
]


def _pdf():
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("wqy", fname=str(FONT))
    return pdf


def text_pdf(pages: list[list[str]] = PDF_PAGES) -> bytes:
    """One page per entry: header, a heading and paragraphs, footer and page number."""
    pdf = _pdf()
    for number, paragraphs in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("wqy", size=9)
        pdf.set_xy(10, 8)
        pdf.cell(0, 6, HEADER, align="C")
        pdf.set_xy(10, 30)
        pdf.set_font("wqy", size=12)
        for i, para in enumerate(paragraphs):
            pdf.multi_cell(0, 7, para)
            pdf.ln(6)
        pdf.set_font("wqy", size=9)
        pdf.set_xy(10, 280)
        pdf.cell(0, 6, FOOTER, align="L")
        pdf.set_xy(10, 286)
        pdf.cell(0, 6, f"- {number} -", align="C")
    return bytes(pdf.output())


def two_column_pdf(left: list[str], right: list[str], title: str) -> bytes:
    pdf = _pdf()
    pdf.add_page()
    pdf.set_font("wqy", size=14)
    pdf.set_xy(10, 15)
    pdf.cell(0, 8, title, align="C")
    pdf.set_font("wqy", size=11)
    for x, paragraphs in ((10, left), (110, right)):
        pdf.set_xy(x, 35)
        for para in paragraphs:
            pdf.set_x(x)
            pdf.multi_cell(90, 6, para)
            pdf.ln(4)
    return bytes(pdf.output())


def text_image(lines: list[str], size: int = 40):
    """A white page image with black text lines, as a scanner would give it."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), size)
    image = Image.new("RGB", (60 + size * max(len(s) for s in lines), 80 + int(size * 1.8) * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 40 + i * int(size * 1.8)), line, font=font, fill="black")
    return image


def png(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def scanned_pdf(image) -> bytes:
    """A PDF whose one page is only a picture (no text layer)."""
    pdf = _pdf()
    pdf.add_page()
    pdf.image(image, x=10, y=10, w=190)
    return bytes(pdf.output())


def docx_file(path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.add_heading("青岚市图书馆服务指南", level=0)
    doc.add_heading("借阅规则", level=1)
    doc.add_paragraph("持读者证可同时借阅图书十册，借期三十天，可在线续借一次。")
    doc.add_heading("逾期处理", level=2)
    doc.add_paragraph("逾期未还的图书每册每天暂停借阅权限一天，不收取罚款。")
    doc.add_heading("开放时间", level=1)
    table = doc.add_table(rows=3, cols=2)
    for row, (a, b) in zip(table.rows, [("区域", "开放时间"), ("少儿阅览室", "九点至十七点"), ("自习区", "八点至二十二点")]):
        row.cells[0].text, row.cells[1].text = a, b
    doc.add_paragraph("法定节假日开放时间另行公告。")
    doc.save(path)


HTML_PAGE = """<!DOCTYPE html>
<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb18030">
<title>青岚湿地公园游览须知</title><script>var tracker = "不应出现的脚本文字";</script>
<style>body {{ color: #333 }}</style></head>
<body><nav>首页 | 新闻 | 联系我们</nav>
<article><h1>青岚湿地公园游览须知</h1>
<h2>入园方式</h2><p>公园实行预约入园，每日限流八千人，{rare}游客须出示预约码。</p>
<h2>观鸟季节</h2><p>每年十一月至次年三月是观鸟最佳时节，园内已记录鸟类一百四十六种。</p>
<ul><li>请勿投喂野生动物。</li><li>观鸟区禁止使用无人机。</li></ul>
</article><footer>版权所有 青岚市园林局</footer></body></html>"""


def html_gb18030(rare: str = "㐀") -> bytes:
    """An HTML page in GB18030, with a character outside GBK (only GB18030 encodes it)."""
    return HTML_PAGE.format(rare=rare).encode("gb18030")


def zip_bomb() -> bytes:
    """A .docx-shaped zip whose document.xml unpacks to 300 MB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w", force_zip64=True) as fh:
            block = b"0" * (1 << 20)
            for _ in range(300):
                fh.write(block)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    pdf = _pdf()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("wqy", size=12)
    pdf.cell(0, 10, "加密的文件内容")
    return bytes(pdf.output())
