"""Chinese paragraphing on the real seeds and on small hand-made texts."""
from __future__ import annotations

import re

import jieba
import pytest

from wenda.indexer.chunker import ChunkSettings, chunk_document
from wenda.indexer.readers.text import decode_bytes

from conftest import SEEDS

SEED_FILES = sorted(SEEDS.glob("*.txt"))


def _chunk(path):
    text = path.read_text(encoding="utf-8")
    title, passages = chunk_document(path.name, text)
    return text, title, passages


@pytest.fixture(scope="module")
def seeds():
    return {p.name: _chunk(p) for p in SEED_FILES}


def test_every_seed_passage_quotes_its_source_exactly(seeds):
    assert len(seeds) == 5
    for name, (text, _title, passages) in seeds.items():
        assert passages, name
        for p in passages:
            assert p.text == text[p.start:p.end]
            assert p.source == name and p.passage_id == f"{name}#{p.paragraph}"
            for s, e in p.spans:           # body segments lie inside the passage and appear in clean
                assert p.start <= s < e <= p.end
                assert text[s:e] in p.clean
        numbers = [p.paragraph for p in passages]
        assert numbers == list(range(1, len(passages) + 1))
        assert all(a.end <= b.start for a, b in zip(passages, passages[1:])), "passages overlap"


def _word_boundaries(line: str) -> set[int]:
    cuts, pos = {0}, 0
    for word in jieba.cut(line, HMM=False):
        pos += len(word)
        cuts.add(pos)
    return cuts


def test_no_passage_starts_or_ends_inside_a_word_or_number(seeds):
    for name, (text, _title, passages) in seeds.items():
        for p in passages:
            for offset in (p.start, p.end):
                before, after = text[offset - 1:offset], text[offset:offset + 1]
                assert not (before.isdigit() and after.isdigit()), (name, p.paragraph, offset)
                # the boundary is a jieba word boundary of the line it falls in
                line_start = text.rfind("\n", 0, offset) + 1
                line_end = text.find("\n", offset)
                line = text[line_start:line_end if line_end >= 0 else len(text)]
                if 0 < offset - line_start < len(line):
                    assert offset - line_start in _word_boundaries(line), (name, p.paragraph, line[:30])


@pytest.mark.parametrize("source, broken_at, joined", [
    ("000_8ea395dd2807991d.txt", "执行董事、总经\n", "执行董事、总经理朱明渊说。"),
    ("000_8ea395dd2807991d.txt", "发放、领取、\n", "配送券生成、发放、领取、使用及流转等数据信息"),
    ("000_8ea395dd2807991d.txt", "一条商\n", "一个核心、两个产业集聚圈、一条商业集聚带"),
    ("000_8ea395dd2807991d.txt", "制定配套政\n", "通过制定配套政策,为新科技更广泛的应用提供政策支撑"),
    ("001_bf23b14b4ba1a3d7.txt", "一体化的生产模式\n", "机制链一体化的生产模式新动能,是我们孵化科创"),
    ("001_bf23b14b4ba1a3d7.txt", "给予最高100\n", "给予最高100万元的一次性资助"),
    ("001_bf23b14b4ba1a3d7.txt", "一家致力\n", "一家致力于实现时尚与虚拟数字技术相结合的创新团队"),
    ("002_d4cb951aedcfedf9.txt", "积累了丰富的人才\n", "积累了丰富的人才与技术储备"),
    ("004_9be9d13863edc5a7.txt", "以降低\n", "以降低行业内部开发、运营和维护成本。"),
])
def test_lines_broken_mid_sentence_are_joined(seeds, source, broken_at, joined):
    text, _title, passages = seeds[source]
    assert broken_at in text, "the example must really be broken in the source"
    holders = [p for p in passages if joined in p.clean]
    assert len(holders) == 1, f"{joined!r} should be one passage's text"
    p = holders[0]
    assert p.text == text[p.start:p.end]


def test_titles(seeds):
    titles = {name: title for name, (_t, title, _p) in seeds.items()}
    assert titles["000_8ea395dd2807991d.txt"] == "竞跑数字经济新赛道"
    assert titles["001_bf23b14b4ba1a3d7.txt"] == "第四届上海数字创新大会在普陀区举行"
    assert titles["002_d4cb951aedcfedf9.txt"] == "抢占新赛道 培育新动能"
    assert titles["003_4ecc75365cd6251d.txt"] == "全面推进城市数字化转型 跑赢数字经济新赛道加速度"
    assert titles["004_9be9d13863edc5a7.txt"].startswith("上海数字经济发展的现实基础")


def test_headings_land_in_section(seeds):
    _text, _title, p000 = seeds["000_8ea395dd2807991d.txt"]
    metro = next(p for p in p000 if "地底飞驰的地铁" in p.clean)
    assert metro.section == ("布局产业前沿",)
    intro = next(p for p in p000 if "随着新一轮科技革命" in p.clean)
    assert intro.section == ()
    _text, _title, p002 = seeds["002_d4cb951aedcfedf9.txt"]
    chat = next(p for p in p002 if "ChatGPT凭借超强的互动问答能力" in p.clean)
    assert chat.section == ("厚植沃土构建产业生态",)          # markdown "###" stripped
    _text, _title, p004 = seeds["004_9be9d13863edc5a7.txt"]
    ai = next(p for p in p004 if "上海人工智能产业规模达700亿元" in p.clean)
    assert ai.section == ("一、上海数字经济发展的现实基础", "(一)上海数字经济发展现状", "3. 人工智能产业。")
    # a numbered heading also opens its passage, so its words are quotable and searchable
    assert ai.text.startswith("3. 人工智能产业。")


@pytest.mark.parametrize("noise", ["资料图片", "本版编辑", "美编", "图①", "图⑤", "版式设计", "本报记者", "基金项目",
                                   "作者简介", "巨云鹏 丁婉星", "市领导考察", "主办单位", "市地方金融监管局"])
def test_captions_and_bylines_do_not_pollute_passages(seeds, noise):
    for name, (_text, _title, passages) in seeds.items():
        for p in passages:
            assert noise not in p.clean, (name, p.paragraph)


def test_passage_sizes_respect_settings():
    body = "".join(f"第{i}句话讲述上海数字经济的发展情况和未来的规划方向。" for i in range(1, 80))
    text = "标题\n\n" + body + "\n\n短段。\n\n另一个很短的段落。\n"
    settings = ChunkSettings(max_chars=200, min_chars=30)
    _title, passages = chunk_document("x.txt", text, settings)
    assert all(len(p.clean) <= 200 for p in passages)
    for p in passages:
        assert p.text == text[p.start:p.end]
        assert re.search(r"[。．.]$", p.clean), "long paragraphs are split at sentence ends"
    assert "短段。\n另一个很短的段落。" in passages[-1].clean, "fragments are merged"


def test_markdown_numbered_outlines_and_crlf():
    text = ("# 总标题\r\n\r\n## 第一部分\r\n\r\n一、总体情况\r\n\r\n（一）基本数据\r\n\r\n"
            "1. 规模。\r\n\r\n上海数字经济规模持续扩大，核心产业增加值占全市生产总值比重超过百分之十。\r\n\r\n"
            "（1）细节\r\n\r\n这一部分讨论细节问题，包括数据的来源与口径，以及统计方法上的若干说明。\r\n")
    title, passages = chunk_document("doc.md", text)
    assert title == "总标题"
    first, second = passages
    assert first.section == ("第一部分", "一、总体情况", "（一）基本数据", "1. 规模。")
    assert second.section == ("第一部分", "一、总体情况", "（一）基本数据", "1. 规模。", "（1）细节")
    for p in passages:
        assert p.text == text[p.start:p.end]
        assert "\r" not in p.clean


def test_gb18030_and_bom_and_binary_and_empty():
    assert decode_bytes("上海数字经济".encode("gb18030")) == ("上海数字经济", "gb18030")
    assert decode_bytes("\ufeff上海".encode("utf-8")) == ("上海", "utf-8")
    assert decode_bytes(b"\x00\x01\x02binary\x00") is None
    assert decode_bytes(bytes(range(128, 256)) * 50) is None
    _title, passages = chunk_document("empty.txt", "   \n\n\t \n")
    assert passages == []


def test_one_long_line_without_punctuation_is_split_at_word_boundaries():
    text = "上海数字经济发展迅速人工智能产业集聚" * 400           # 7,200 characters, no punctuation
    _title, passages = chunk_document("long.txt", text, ChunkSettings(max_chars=500, min_chars=50))
    assert len(passages) >= 14
    assert all(len(p.clean) <= 500 for p in passages)
    assert "".join(p.text for p in passages) == text
