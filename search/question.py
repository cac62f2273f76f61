"""Question analysis: what a question asks for, about what, under which constraints.

``analyse(question, analyzer)`` reads one question (Chinese, English or both; simplified or
traditional; full sentences, keywords or colloquial forms) and returns a ``Question``:

- ``asked``: the type of the answer (quantity, date, person, organisation, place, thing, reason,
  method, definition, yesno, other) and, for quantities, the ``unit`` or measure asked in;
- ``focus``: the attribute asked for (员工, 营收, 占地面积): the phrase the question word binds to;
- ``constraints``: the places, organisations, people, events, times and numbers it names;
- ``terms``: weighted content terms for matching (constraints weigh most, generic words least);
- ``kind`` / ``is_question`` / ``is_noise``: greetings, commands, bare numbers and noise flagged.

Rules over jieba's part-of-speech tags of the folded text (OpenCC traditional -> simplified);
deterministic, no model call, and it never raises: any string gives a ``Question``.
"""
from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from wenda.indexer.tokens import Analyzer

from .glosses import english_glosses

ASKED_TYPES = ("quantity", "date", "person", "organisation", "place", "thing", "reason", "method",
               "definition", "yesno", "other")
CONSTRAINT_KINDS = ("place", "organisation", "person", "event", "time", "number", "entity")
INPUT_KINDS = ("question", "keywords", "greeting", "command", "number", "noise", "empty")

# Analysis cost grows with length; the surfaces refuse longer queries anyway.
MAX_ANALYSED_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Constraint:
    text: str       # folded (simplified, lower-case) surface form
    kind: str       # one of CONSTRAINT_KINDS


@dataclass(frozen=True, slots=True)
class Term:
    text: str           # folded
    weight: float
    english: bool       # a Latin-script word kept from the question
    source: str         # "constraint", "focus", "content", "generic" or "gloss" (English -> Chinese)


@dataclass(frozen=True, slots=True)
class Question:
    text: str                           # as asked
    folded: str                         # folded, typos of question words repaired
    asked: str                          # one of ASKED_TYPES
    unit: str | None                    # quantity: 家, 亿元, 场 ...; 多大/多高/多久: the measure
    cue: str | None                     # the question word found (多少家, 什么时候, who ...)
    focus: str | None                   # the attribute asked for
    constraints: tuple[Constraint, ...]
    terms: tuple[Term, ...]
    kind: str                           # one of INPUT_KINDS
    language: str                       # zh, en or mixed
    glosses: tuple[tuple[str, tuple[str, ...]], ...] = ()   # English word -> its Chinese wording

    @property
    def matching_text(self) -> str:
        """The question with each English word's first Chinese wording after it: what is matched
        against Chinese sentences (the question itself when it has no English)."""
        if not self.glosses:
            return self.text
        return " ".join([self.text, *dict.fromkeys(chinese[0] for _, chinese in self.glosses if chinese)])

    @property
    def is_question(self) -> bool:
        return self.kind in ("question", "keywords")

    @property
    def is_noise(self) -> bool:
        return self.kind in ("noise", "number", "empty")


# ---------------------------------------------------------------- cues of the asked type

_UNITS = sorted("""平方公里 平方千米 平方米 万平方米 亩 公顷 公里 千米 米 厘米 吨 万吨 千瓦 兆瓦 瓦
亿美元 万美元 美元 亿元 万元 千元 元 块钱 钱 个百分点 百分点 人次 万人 亿人 个月 个 家 人 名 位 场 次
项 件 种 款 所 座 栋 幢 台 辆 条 部 批 户 届 期 倍 岁 年 天 周 小时 分钟 秒 层 张 篇 本 套 只 颗 块
笔 份 支 处 间 万 亿 千 百 成 国 省 市 区 轮 度""".split(), key=len, reverse=True)
_UNIT_RE = "|".join(map(re.escape, _UNITS))
_UNIT_NORMAL = {"钱": "元", "块钱": "元", "百分点": "个百分点"}
_MEASURES = {"大": "大小", "高": "高度", "长": "长度", "久": "时长", "远": "距离", "重": "重量",
             "深": "深度", "宽": "宽度", "厚": "厚度", "快": "速度", "贵": "价格", "少钱": "元"}
_ENGLISH_MEASURES = {"long": "时长", "big": "大小", "large": "大小", "tall": "高度", "high": "高度",
                     "far": "距离", "old": "岁", "heavy": "重量", "wide": "宽度", "deep": "深度"}

_ORG_NOUN = r"公司|企业|机构|单位|集团|部门|银行|高校|大学|学校|医院|平台|组织|厂商|品牌|团队|实验室|研究院|研究所"
_PLACE_NOUN = r"区|市|省|县|镇|国家|城市|地方|地区|街道|园区|位置|国|城|片区|新区"

# (asked type, pattern), tried in this order: the first type whose pattern occurs wins, so
# 什么时候 is a date before 什么 is a thing, and 多少 outranks a 吗 at the end.
_CUES: tuple[tuple[str, re.Pattern], ...] = tuple((t, re.compile(p)) for t, p in (
    ("reason", r"为什么|为何|为啥|何故|什么原因|啥原因|原因是什么|怎么会|\bwhy\b"),
    ("date", r"什么时候|啥时候|什么时间|啥时间|何时|哪一?年份?|哪一?天|哪一?个?月份?|几月|几号|几点|几时|"
             r"什么日子|哪个季度|什么年份|\bwhen\b|\bwhat (?:year|time|date|day|month)\b|\bwhich (?:year|day|month)\b"),
    ("quantity", rf"(?:多少|几(?!乎|何|率|内亚))(?:{_UNIT_RE})?|多(?:少钱|大|高|长|久|远|重|深|宽|厚|快|贵)|"
                 r"\bhow (?:many|much)\b|\bhow (?:long|big|large|tall|high|far|old|heavy|wide|deep)\b|"
                 r"\bwhat (?:percentage|proportion|share|number)\b"),
    ("person", r"谁|哪一?位|(?:什么|哪个|哪些)人(?!工|才|口|员|群|气|民|次)|何人|\bwho(?:m|se)?\b"),
    ("organisation", rf"哪家(?:{_ORG_NOUN})?|哪(?:个|些|一)[^的区市省县\W]{{0,6}}?(?:{_ORG_NOUN})|哪(?:个|些|一)?(?:{_ORG_NOUN})|什么(?:{_ORG_NOUN})|"
                     r"\b(?:which|what) (?:company|companies|firm|firms|organi[sz]ations?|enterprises?|"
                     r"institutions?|group|universit(?:y|ies))\b"),
    ("place", rf"哪里|哪儿|在哪|去哪|何处|何地|什么地方|啥地方|什么位置|哪(?:个|些|一|座)?(?:{_PLACE_NOUN})|"
              r"\bwhere\b|\b(?:which|what) (?:district|city|province|country|place|area)\b"),
    ("method", r"怎么|怎样|如何|咋|什么方法|什么方式|什么办法|\bhow\b"),
    ("definition", r"什么是|是什么意思|什么意思|是指什么|指的是什么|指什么|是什么|是啥|何谓|什么叫|"
                   r"\bwhat (?:is|are|does)\b|\bdefine\b|\bmeaning of\b"),
    ("thing", r"什么|啥|哪(?:个|些|一|种|项|类)?|\bwhat\b|\bwhich\b"),
    ("yesno", r"是不是|是否|有没有|能不能|会不会|可不可以|对不对|是吗|吗\W*$|"
              r"^(?:is|are|does|do|did|can|could|will|was|were|has|have|should)\b"),
))

# Attribute words that say the asked type where the question has no question word
# (keywords: 「360集团 创始人」) or only a vague one (「成立时间是什么」).
_HINTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("quantity", frozenset("数量 数目 规模 面积 占地面积 建筑面积 人口 营收 营业收入 收入 产值 总产值 总值 生产总值 "
                           "地区生产总值 gdp 金额 投资额 比例 占比 比重 增长率 增速 员工数 人数 个数 家数 总数 税收 "
                           "利润 销售额 市值 估值 产量 票房 价格 面积是".split())),
    ("date", frozenset("时间 日期 年份 成立时间 举办时间 开幕时间 召开时间 开业时间 上市时间".split())),
    ("person", frozenset("创始人 创办人 董事长 总经理 负责人 作者 ceo 总裁 院长 校长 区长 市长 主任 书记 "
                         "founder 名字 姓名".split())),
    ("place", frozenset("地址 位置 地点 所在地 总部 选址 举办地".split())),
    ("reason", frozenset("原因 理由".split())),
    ("method", frozenset("方法 办法 步骤 途径 流程".split())),
    ("definition", frozenset("定义 含义 概念 意思".split())),
)
_HINT_TYPE = {word: asked for asked, words in _HINTS for word in words}
# Hint words that name the dimension, not the thing measured: the focus is what precedes them.
_ATTRIBUTE_SPLIT = re.compile("(" + "|".join(
    map(re.escape, sorted((w for w in _HINT_TYPE if not w.isascii()), key=len, reverse=True))) + ")")
_GENERIC_HINTS = frozenset("数量 数目 总数 个数 时间 日期 年份 地址 位置 地点 规模 名字 姓名".split())

# Common slips in question words (何时 typed 何侍 is beyond rules; these are the frequent ones).
_TYPOS = tuple((re.compile(p), r) for p, r in (
    (r"时侯", "时候"), (r"什幺|甚么|什末", "什么"), (r"怎麽|怎末", "怎么"),
    (r"(?:在|去)那(?:里|儿)?(?=\W*$)", "在哪"), (r"那(?=个区|家公司|家企业|一年|些企业|些公司)", "哪"),
    (r"(?:(?<=多少)|(?<=几))加(?=[\u4e00-\u9fff])", "家"), (r"多扫", "多少"), (r"(?<=[\u4e00-\u9fff])码(?=\W*$)", "吗"),
))

# ---------------------------------------------------------------- entities and generic words

_PLACE_SUFFIXES = ("新片区", "片区", "新区", "开发区", "高新区", "自贸区", "园区", "科学城", "金融城", "产业园",
                   "科技园", "区", "市", "省", "县", "镇", "乡", "村", "街道", "城", "园", "港", "岛", "湾")
_ORG_SUFFIXES = ("有限公司", "集团", "公司", "股份", "银行", "大学", "学院", "研究院", "研究所", "实验室", "医院",
                 "科技", "协会", "委员会", "基金会", "交易所", "控股")
_EVENT_SUFFIXES = ("博会", "大会", "论坛", "博览会", "峰会", "展会", "展览会", "运动会", "马拉松", "进博会", "世博会",
                   "大赛", "比赛", "锦标赛", "艺术节", "音乐节", "电影节", "文化节", "购物节", "节")
_NOT_PLACES = frozenset("地区 城区 园区 社区 市区 小区 景区 辖区 全市 全区 本市 本区 城市 片区 新区 开发区 城乡 "
                        "全国 国内 国外 全球 各区 郊区 市场 城镇 乡村 港口 公园 花园 校园 家园 工业园 科技园 产业园".split())
_GENERIC = frozenset("企业 公司 数字化 数字 发展 情况 相关 主要 目前 现在 已经 一共 总共 共有 大约 请问 知道 告诉 "
                     "关于 一下 方面 问题 工作 产业 经济 项目 地方 东西 信息 内容 具体 如今 当前 其中 整个 累计 "
                     "总计 达到 截至 全国".split())
_NAME_FLAGS = frozenset(("ns", "nr", "nrt", "nrfg", "nt", "nz", "j"))
_PARTICLES = frozenset("的 了 呢 吗 啊 呀 吧 么 嘛 哦 哇 着 过 地 得 啦".split())
_COPULAS = frozenset("是 有 在 为 叫 约 大约 大概 一共 总共 共 共有 达 达到 到 位于 属于 算".split())
_AUXILIARIES = frozenset("要 能 会 可以 应该 应当 需要 得 该 想 可 能够 才 就 都 还 也 又 最".split())
_PREPOSITIONS = frozenset("在 于 从 离 对 向 和 与 跟 及 以及 或 把 被 给 由 自 到 比".split())
_MAX_NAME_CHARS = 16   # names longer than this are runs of names (noise), not one name
_LOW_FREQUENCY = 100
# Single characters that are grammar or question words, never part of an unknown name.
_FUNCTION_CHARS = frozenset("的了呢吗啊呀吧么嘛是有在和与及或也都就又还要能会被把给对从向于离比最很太更新多几哪谁啥"
                            "什怎为何办建开设举有没不一个家场次项年月日号人名位亿万元")    # a jieba word rarer than this is more likely a name than a common noun

_ENGLISH_STOP = frozenset("""first last most least ever just also a an the of in on at to for by with from and or is are was were be been do does did
has have had can could will would should shall may might what which who whom whose when where why how many much
this that these those it its there their they i you we he she me my our your please tell about than into as
long big large tall high far old heavy wide deep percentage proportion share number""".split())
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_ASCII_RUN = re.compile(r"[a-z0-9][a-z0-9.%+\-]*")
_TIME_RE = re.compile(r"(?:\d{2,4}|[一二三四五六七八九〇零]{4})年(?:\d{1,2}月(?:\d{1,2}[日号])?)?|\d{1,2}月\d{1,2}[日号]|"
                      r"\d{1,2}月份?|(?:今|去|明|前|后)年|本月|上个?月|下个?月|今天|昨天|明天|"
                      r"(?:上|下)半年|\d{4}(?=[-/.]\d)|(?<![\d.])(?:19|20)\d{2}(?![\d.%])")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?(?:%|％|万|亿|千|百)?(?:平方米|平方公里|亿元|万元|元|家|个|人|名|场|次|项|米|吨|亩)?")
_GREETING = re.compile(r"(?:你好|您好|大家好|hi|hello|hey|嗨|哈喽|哈啰|早上好|上午好|中午好|下午好|晚上好|早安|"
                       r"晚安|谢谢|多谢|感谢|谢啦|thanks|thank you|thx|再见|拜拜|bye|goodbye|good morning|"
                       r"good evening|在吗|在不在|有人吗|你是谁|你叫什么|你叫什么名字|who are you|ok|好的|嗯|哈哈|"
                       r"[呀啊啦哦吖~～]|\s)+")
_COMMAND = re.compile(r"^(?:/\w+.*|(?:请|帮我|给我|麻烦)?(?:退出|关闭|打开|清空|清除|删除|重启|重新开始|停止|"
                      r"开始|继续|返回|帮助|写一|画一|翻译|生成|播放|发送|忽略)[^?？]*|"
                      r"(?:help|exit|quit|stop|start|restart|clear|reset|sudo|rm|ls|cd|ignore|write|"
                      r"translate|generate|print|open|close|delete)\b[^?]*)$")

_POS_LOCK = threading.Lock()
_KNOWN_LOCK = threading.Lock()
_KNOWN: dict[int, tuple[weakref.ref, dict[str, bool]]] = {}     # id(index) -> (index, word -> the corpus holds it)
_KNOWN_MAX = 20_000
_POS_TAGGERS: "weakref.WeakKeyDictionary[Analyzer, object]" = weakref.WeakKeyDictionary()


@dataclass(slots=True)
class _Token:
    word: str
    flag: str
    start: int          # offsets into the folded question
    end: int
    kind: str | None = None     # a constraint kind once recognised as one


# ---------------------------------------------------------------- the analysis

def warm(analyzer: Analyzer) -> None:
    """Load jieba's tagging tables now (about 2 s once per process) rather than on the first
    question."""
    pos_tagger(analyzer).lcut("徐汇区有多少家企业")


def analyse_over(question: str, index) -> Question:
    """``analyse`` against one index (a SearchBackend): English words keep only the Chinese
    wording its corpus uses ("index": 指数 and 指标 where the corpus writes them, never 引得)."""
    analyzer = index.analyzer
    with _KNOWN_LOCK:
        owner, seen = _KNOWN.get(id(index), (None, None))
        if owner is None or owner() is not index:       # indexes are dataclasses: keyed by identity
            seen = {}
            _KNOWN[id(index)] = (weakref.ref(index, lambda _, key=id(index): _KNOWN.pop(key, None)), seen)

    def known(word: str) -> bool:
        # Cached per index: an ask analyses its question twice (search, answer), and English words recur.
        found = seen.get(word)
        if found is None:
            grams = analyzer.grams(word)
            counts = index.known_grams(grams)       # one posting lookup each: most unused words stop here
            found = (counts is None or all(counts.get(g) for g in grams)) and index.term_in_corpus(grams)
            if len(seen) >= _KNOWN_MAX:
                seen.clear()
            seen[word] = found
        return found
    return analyse(question, analyzer, known=known)


def analyse(question: str, analyzer: Analyzer, known: Callable[[str], bool] | None = None) -> Question:
    """The analysis of one question; never raises, whatever the string. ``known``: whether the
    corpus holds a Chinese word (ranks English words' translations; see ``analyse_over``)."""
    text = question if isinstance(question, str) else ("" if question is None else str(question))
    # Lone surrogates (from broken JSON escapes) cannot be encoded for OpenCC: dropped.
    folded = _repair(analyzer.fold(_SURROGATE.sub("", text[:MAX_ANALYSED_CHARS])))
    language = _language(text)
    kind = _input_kind(folded, analyzer)
    if kind in ("empty", "number", "noise", "greeting", "command"):
        return Question(text=text, folded=folded, asked="other", unit=None, cue=None, focus=None,
                        constraints=(), terms=_terms([], (), None, kind), kind=kind, language=language)

    tokens = _mark_times(_merge_entities(_tagged(folded, analyzer), analyzer, text), folded)
    asked, cue, unit = _asked(folded)
    constraints = _constraints(tokens, folded, cue)
    focus_tokens = _focus(tokens, cue, asked)
    focus = "".join(t.word for t in focus_tokens) or None
    if cue is None or asked in ("thing", "definition", "yesno"):
        asked, focus, focus_tokens = _refine_by_hint(asked, tokens, focus, focus_tokens, cue)
    if asked == "quantity" and unit is None and focus and re.search(r"[比率]|占比|比例|比重", focus):
        unit = "%"
    kind = "question" if cue is not None else "keywords"
    glosses = _glosses(tokens, analyzer, known)
    return Question(text=text, folded=folded, asked=asked, unit=unit,
                    cue=cue.group(0).strip() if cue is not None else None, focus=focus,
                    constraints=constraints, terms=_terms(tokens, constraints, focus_tokens, kind, cue, glosses),
                    kind=kind, language=language, glosses=tuple(glosses.items()))


def _repair(folded: str) -> str:
    folded = re.sub(r"\s+", " ", folded).strip()
    for pattern, replacement in _TYPOS:
        folded = pattern.sub(replacement, folded)
    return folded


def _language(text: str) -> str:
    cjk = bool(_CJK.search(text))
    # Acronyms and model names (AI, 5G, WAIC) are part of Chinese writing; English words are not.
    english = [w for w in _LATIN_WORD.findall(text) if not (w.isupper() and len(w) <= 6)]
    if not cjk:
        return "en" if _LATIN_WORD.search(text) else "zh"
    return "mixed" if english else "zh"


def _input_kind(folded: str, analyzer: Analyzer) -> str:
    bare = re.sub(r"[\W_]+", "", folded)
    if not bare:
        return "empty" if not folded else "noise"
    if not _CJK.search(bare) and not re.search(r"[a-z]", bare):
        return "number" if bare.isdigit() else "noise"
    if len(bare) >= 3 and len(set(bare)) == 1:
        return "noise"                                  # 啊啊啊啊, aaaaaa
    if _GREETING.fullmatch(folded.replace("?", "").replace("!", "").replace(",", "").replace(".", "")):
        return "greeting"
    if _COMMAND.match(folded) and not _any_cue(folded):
        return "command"
    if _looks_random(folded, analyzer):
        return "noise"
    return "question"


def _any_cue(folded: str) -> bool:
    return any(p.search(folded) for t, p in _CUES if t != "thing")


def _looks_random(folded: str, analyzer: Analyzer) -> bool:
    """Random characters: Chinese that jieba cannot read as words, Latin without word shapes."""
    cjk = _CJK.findall(folded)
    if len(cjk) >= 12:
        tokenizer = getattr(analyzer, "_jieba", None)
        sample = "".join(cjk[:400])
        words = tokenizer.lcut(sample, HMM=False) if tokenizer is not None else analyzer.tokens(sample)
        covered = sum(len(w) for w in words if len(w) >= 2 and analyzer_frequency(analyzer, w) > 0)
        if covered / min(len(cjk), 400) < 0.3:
            return True
    if not cjk:
        latin = re.findall(r"[a-z]+", folded)
        if latin:
            plausible = [w for w in latin if len(w) <= 20 and re.search(r"[aeiouy]", w)
                         and not re.search(r"[^aeiouy]{5,}|(.)\1\1", w)]
            return len(plausible) < 0.5 * len(latin)
    return False


def analyzer_frequency(analyzer: Analyzer, word: str) -> int:
    tokenizer = getattr(analyzer, "_jieba", None)
    return (tokenizer.FREQ.get(word) or 0) if tokenizer is not None else 0


def pos_tagger(analyzer: Analyzer):
    """jieba's POS tagger over the analyzer's own tokenizer, so its user dictionary counts.

    jieba.posseg's module-level tagger (over jieba's default tokenizer) would load the dictionary a
    second time (1.2 s); a new POSTokenizer parses the word tags of dict.txt again (1 s). The tags
    depend only on the main dictionary, so where it is jieba's own, the module's table is copied."""
    with _POS_LOCK:
        tagger = _POS_TAGGERS.get(analyzer)
        if tagger is None:
            import jieba
            import jieba.posseg

            analyzer.warm()
            if analyzer._jieba.dictionary == jieba.dt.dictionary:
                # what POSTokenizer.__init__ sets, without parsing dict.txt again
                tagger = jieba.posseg.POSTokenizer.__new__(jieba.posseg.POSTokenizer)
                tagger.tokenizer = analyzer._jieba
                tagger.word_tag_tab = dict(jieba.posseg.dt.word_tag_tab)    # a user dictionary's tags join a copy
            else:
                tagger = jieba.posseg.POSTokenizer(analyzer._jieba)
            _POS_TAGGERS[analyzer] = tagger
        return tagger


def _tagged(folded: str, analyzer: Analyzer) -> list[_Token]:
    tokens: list[_Token] = []
    tagger = pos_tagger(analyzer)
    pos = 0
    # Attribute words are cut out first: jieba joins 占比是 as 占|比是, and 营收 as 营|收.
    for piece in _ATTRIBUTE_SPLIT.split(folded):
        if not piece:
            continue
        if piece in _HINT_TYPE:
            tokens.append(_Token(piece, "n", pos, pos + len(piece)))
            pos += len(piece)
            continue
        # Without jieba's HMM (2-3 ms a question on its own); unknown names come back as single
        # characters and are rejoined by _join_unknown.
        for pair in tagger.cut(piece, HMM=False):
            word, flag = pair.word, pair.flag
            tokens.append(_Token(word, flag, pos, pos + len(word)))
            pos += len(word)
    # Latin/digit runs whole ("5g", "360", "gpt-4"): jieba splits letters from digits.
    merged: list[_Token] = []
    for run in _ASCII_RUN.finditer(folded):
        merged.append(_Token(run.group(0), "eng" if re.search(r"[a-z]", run.group(0)) else "m",
                             run.start(), run.end()))
    if merged:
        covered = {i for m in merged for i in range(m.start, m.end)}
        tokens = sorted([t for t in tokens if t.start not in covered] + merged, key=lambda t: t.start)
    return _join_attributes(_join_unknown(tokens))


def _join_unknown(tokens: list[_Token]) -> list[_Token]:
    """Runs of two or three single content characters are read as one unknown word (张|江 -> 张江)."""
    out: list[_Token] = []
    run: list[_Token] = []

    def flush() -> None:
        if 2 <= len(run) <= 3:
            out.append(_Token("".join(t.word for t in run), "x", run[0].start, run[-1].end))
        else:
            out.extend(run)
        run.clear()

    for t in tokens:
        if len(t.word) == 1 and _CJK.match(t.word) and t.word not in _FUNCTION_CHARS \
                and (not run or run[-1].end == t.start):
            run.append(t)
            continue
        flush()
        out.append(t)
    flush()
    return out


def _join_attributes(tokens: list[_Token]) -> list[_Token]:
    """Rejoin hint words that jieba splits (营|收 -> 营收)."""
    out: list[_Token] = []
    i = 0
    while i < len(tokens):
        if i + 1 < len(tokens) and tokens[i].word + tokens[i + 1].word in _HINT_TYPE \
                and len(tokens[i].word) == 1:
            a, b = tokens[i], tokens[i + 1]
            out.append(_Token(a.word + b.word, "n", a.start, b.end))
            i += 2
            continue
        out.append(tokens[i])
        i += 1
    return out


def _name_like(token: _Token, analyzer: Analyzer) -> bool:
    if token.flag in _NAME_FLAGS:
        return len(token.word) >= 2 or token.flag == "ns"
    if token.flag == "eng" or (token.flag == "m" and token.word.isascii() and token.word[:1].isdigit()):
        return True
    return (_CJK.match(token.word) is not None and len(token.word) >= 2
            and token.flag in ("n", "x", "nz", "s") and analyzer_frequency(analyzer, token.word) < _LOW_FREQUENCY)


def _kind_by_suffix(word: str) -> str | None:
    if word in _NOT_PLACES or word in _GENERIC:
        return None
    if word.endswith(_ORG_SUFFIXES) and len(word) > 2:
        return "organisation"
    if word.endswith(_EVENT_SUFFIXES) and len(word) > 2:
        return "event"
    if word.endswith(_PLACE_SUFFIXES) and len(word) >= 3 - (word[-1] in "市省县区"):
        return "place"
    return None


def _merge_entities(tokens: list[_Token], analyzer: Analyzer, original: str) -> list[_Token]:
    """Join names with their suffixes (临港|新|片区, 360|集团, 世界|人工智能|大会) and give each
    name a constraint kind."""
    out: list[_Token] = []
    for token in tokens:
        word = token.word
        suffix_kind = _suffix_word_kind(word)
        if out and suffix_kind is not None and not word.isspace():
            # 新 joins a following 片区/区 ("临港新片区")
            start = len(out) - 1
            if out[start].word == "新" and start > 0:
                start -= 1
            head = out[start]
            if suffix_kind == "event":
                # an event name takes up to three nouns before it: 世界|人工智能|大会
                while start > 0 and len(out) - start < 3 and out[start - 1].flag[:1] in "nv" \
                        and out[start - 1].kind is None and out[start - 1].word not in _PARTICLES \
                        and out[start - 1].flag not in ("v",) and not out[start - 1].word.isspace():
                    start -= 1
                head = out[start]
                ok = head.flag[:1] in "nm" or head.flag in ("eng", "vn") or head.kind is not None \
                    or (word == "博会" and len(head.word) == 1)     # 进|博会, 服贸|博会 ...
            else:
                ok = head.kind is not None or _name_like(head, analyzer)
            if suffix_kind == "organisation" and head.kind == "number" and not _TIME_RE.fullmatch(head.word):
                ok = True       # 360|集团: a number names the company
            elif head.kind in ("time", "number"):
                ok = False
            if ok and not head.word.isspace() and token.end - head.start <= _MAX_NAME_CHARS:
                merged = "".join(t.word for t in out[start:]) + word
                del out[start:]
                out.append(_Token(merged, "nz", head.start, token.end, _kind_by_suffix(merged) or suffix_kind))
                continue
        if out and token.flag in _NAME_FLAGS and out[-1].flag in _NAME_FLAGS and out[-1].end == token.start \
                and len(out[-1].word) < _MAX_NAME_CHARS \
                and out[-1].kind in (None, "place", "person", "entity") and len(word) >= 2:
            # adjacent names read as one: 张江|科学城, 陆家嘴|金融城
            head = out.pop()
            merged = head.word + word
            out.append(_Token(merged, "nz", head.start, token.end, _kind_of(merged, "nz", original, head.flag, analyzer)))
            continue
        out.append(_Token(word, token.flag, token.start, token.end, _kind_of(word, token.flag, original, None, analyzer)))
    return out


def _mark_times(tokens: list[_Token], folded: str) -> list[_Token]:
    """Tokens inside a date (2022|年, 3|月) belong to that date, not to the content words."""
    spans = [m.span() for m in _TIME_RE.finditer(folded)]
    for t in tokens:
        if t.kind is None and any(s <= t.start and t.end <= e for s, e in spans):
            t.kind = "time"
    return tokens


def _suffix_word_kind(word: str) -> str | None:
    if word in ("片区", "新区", "开发区", "高新区", "自贸区", "园区", "科学城", "金融城", "产业园", "科技园", "区", "市",
                "省", "县", "镇", "街道", "城", "园", "港", "岛"):
        return "place"
    if word in _ORG_SUFFIXES:
        return "organisation"
    if word in _EVENT_SUFFIXES:
        return "event"
    return None


def _kind_of(word: str, flag: str, original: str, first_flag: str | None = None,
             analyzer: Analyzer | None = None) -> str | None:
    if not word.strip() or word in _GENERIC or word in _PARTICLES or word in _HINT_TYPE:
        return None
    if _TIME_RE.fullmatch(word) or flag == "t" and _TIME_RE.search(word):
        return "time"
    by_suffix = _kind_by_suffix(word)
    if by_suffix is not None:
        return by_suffix
    flag = first_flag or flag
    if flag == "ns" and len(word) >= 2 and word not in _NOT_PLACES:
        return "place"
    if flag == "nt":
        return "organisation"
    if flag in ("nr", "nrfg") and len(word) >= 2:
        # jieba tags many place names as people (徐汇); the dictionary knowing 徐汇区 says place
        if analyzer is not None and any(analyzer_frequency(analyzer, word + s) for s in "区市县镇"):
            return "place"
        return "person"
    if flag == "nrt" and len(word) >= 2:
        return "entity"     # jieba's transliterated names are as often companies (阿里巴巴) as people
    if flag == "nz" and len(word) >= 2:
        return "entity"
    if flag == "eng" and word not in _ENGLISH_STOP:
        # Names and acronyms keep capitals or digits in the question (AI, 5G, ChatGPT); plain
        # English words (founded) are terms, not constraints.
        spelled = re.search(re.escape(word), original, re.IGNORECASE)
        if spelled and (re.search(r"[A-Z0-9]", spelled.group(0)) or any(c.isdigit() for c in word)):
            return "entity"
    if flag == "m" and re.search(r"\d", word):
        return "number"
    return None


@dataclass(frozen=True, slots=True)
class _Cue:
    text: str
    begin: int
    stop: int

    def start(self) -> int:
        return self.begin

    def end(self) -> int:
        return self.stop

    def group(self, _: int = 0) -> str:
        return self.text


def _asked(folded: str) -> tuple[str, _Cue | None, str | None]:
    for asked, pattern in _CUES:
        match = pattern.search(folded)
        if match is None:
            continue
        found = _Cue(match.group(0), match.start(), match.end())
        which = re.match(r"哪(?:个|些|一|家)", found.text)
        if asked == "organisation" and which and len(found.text) > which.end() + 2:
            # 哪些人工智能企业: the words between are what is asked for, not part of the cue
            found = _Cue(which.group(0), found.begin, found.begin + which.end())
        unit = None
        if asked == "quantity":
            unit = _unit(found.group(0))
        if asked == "thing" and found.group(0) == "哪" and re.match(r"哪[里儿]", folded[found.start():]):
            continue
        return asked, found, unit
    return "other", None, None


def _unit(cue: str) -> str | None:
    english = re.match(r"how (\w+)", cue)
    if english:
        return _ENGLISH_MEASURES.get(english.group(1))
    if cue.startswith("多") and not cue.startswith("多少"):
        return _MEASURES.get(cue[1:])
    rest = cue[2:] if cue.startswith("多少") else cue[1:]
    return _UNIT_NORMAL.get(rest, rest) or None


def _content(token: _Token) -> bool:
    w = token.word
    return bool(w.strip()) and w not in _PARTICLES and token.flag not in ("x", "uj", "ul", "p", "c", "r", "y", "e") \
        and re.search(r"[\w\u4e00-\u9fff]", w) is not None and w not in _ENGLISH_STOP


def _focus(tokens: list[_Token], cue: _Cue | None, asked: str) -> list[_Token]:
    """The phrase the question word binds to: the run of content words right after it (after
    any copula, name or 的 in between), else the run right before it."""
    if cue is None:
        return []
    after = [t for t in tokens if t.start >= cue.end()]
    before = [t for t in tokens if t.end <= cue.start()]
    run = _run_after(after)
    if asked in ("definition", "yesno") or not run:
        back = _run_before(before)
        if back or not run:
            return back
    return run


def _run_after(tokens: list[_Token]) -> list[_Token]:
    i = 0
    while i < len(tokens) and (tokens[i].kind is not None or tokens[i].word in _COPULAS
                               or tokens[i].word in _AUXILIARIES or tokens[i].word in _PARTICLES
                               or not _content(tokens[i])):
        if tokens[i].word in "?？。!！,，":
            return []
        i += 1
    run = []
    while i < len(tokens) and tokens[i].kind is None and _content(tokens[i]) \
            and tokens[i].word not in _PREPOSITIONS and tokens[i].word not in _COPULAS:
        run.append(tokens[i])
        i += 1
    return run[:4]


def _run_before(tokens: list[_Token]) -> list[_Token]:
    i = len(tokens) - 1
    while i >= 0 and (tokens[i].word in _COPULAS or tokens[i].word in _AUXILIARIES
                      or tokens[i].word in _PARTICLES or tokens[i].word.isspace()):
        i -= 1
    run = []
    while i >= 0 and tokens[i].kind is None and _content(tokens[i]) and tokens[i].word not in _PREPOSITIONS \
            and tokens[i].word not in _COPULAS and tokens[i].word not in _AUXILIARIES:
        run.insert(0, tokens[i])
        i -= 1
    return run[-4:]


def _refine_by_hint(asked, tokens, focus, focus_tokens, cue):
    """A hint word (创始人, 成立时间, 数量) gives the type where the question word is vague or absent."""
    words = [t for t in (focus_tokens or tokens) if t.word in _HINT_TYPE]
    if not words and cue is None:
        words = [t for t in tokens if t.word in _HINT_TYPE]
    if not words:
        return asked, focus, focus_tokens
    hint = words[-1]
    hinted = _HINT_TYPE[hint.word]
    if cue is not None and asked == "definition" and hinted == "definition":
        return asked, focus, focus_tokens
    if cue is None or focus_tokens:
        if hint.word in _GENERIC_HINTS:
            before = _run_before([t for t in tokens if t.end <= hint.start])
            if before:
                return hinted, "".join(t.word for t in before), before
        if cue is None:
            return hinted, hint.word, [hint]
        return hinted, focus, focus_tokens
    return asked, focus, focus_tokens


def _constraints(tokens: list[_Token], folded: str, cue: _Cue | None) -> tuple[Constraint, ...]:
    found: list[Constraint] = []
    spans: list[tuple[int, int]] = []
    for m in _TIME_RE.finditer(folded):
        found.append(Constraint(m.group(0), "time"))
        spans.append(m.span())
    for t in tokens:
        if t.kind is None or (cue is not None and t.start < cue.end() and t.end > cue.start()):
            continue
        if any(s <= t.start and t.end <= e for s, e in spans):
            continue
        found.append(Constraint(t.word, t.kind))
        spans.append((t.start, t.end))
    for m in _NUMBER_RE.finditer(folded):
        if not any(s <= m.start() < e for s, e in spans):
            found.append(Constraint(m.group(0), "number"))
            spans.append(m.span())
    return tuple(dict.fromkeys(found))


def _glosses(tokens: list[_Token], analyzer: Analyzer, known: Callable[[str], bool] | None
             ) -> dict[str, tuple[str, ...]]:
    """Chinese wording of the question's English words (search/glosses.py), common words first."""
    latin = [t.word for t in tokens if t.word.isascii() and re.fullmatch(r"[a-z][a-z'\-]*", t.word)]
    if not latin:
        return {}
    return english_glosses(latin, lambda word: analyzer_frequency(analyzer, word), _ENGLISH_STOP, known)


def _terms(tokens: list[_Token], constraints, focus_tokens, kind: str,
           cue: _Cue | None = None, glosses: dict[str, tuple[str, ...]] | None = None) -> tuple[Term, ...]:
    if kind not in ("question", "keywords"):
        return ()
    weights: dict[str, Term] = {}
    glosses = glosses or {}

    def add(text: str, weight: float, source: str) -> None:
        english = text.isascii() and re.search(r"[a-z]", text) is not None
        old = weights.get(text)
        if old is None or old.weight < weight:
            weights[text] = Term(text, weight, english, source)

    for c in constraints:
        add(c.text, 3.0, "constraint")
        for gloss in glosses.get(c.text, ()):     # "AI" as a constraint still matches 人工智能
            add(gloss, 0.8 * 3.0, "gloss")
    focus_words = {t.word for t in focus_tokens or ()}
    for t in tokens:
        if cue is not None and t.start < cue.end() and t.end > cue.start():
            continue
        if t.kind is not None or not _content(t) or t.word in _COPULAS:
            continue
        if t.word in focus_words:
            add(t.word, 2.0, "focus")
        elif t.word in _GENERIC or len(t.word) == 1 and not t.word.isascii():
            add(t.word, 0.3, "generic")
        else:
            add(t.word, 1.0, "content")
        for gloss in glosses.get(t.word, ()):
            add(gloss, 0.8 * weights[t.word].weight, "gloss")
    if focus_tokens and len(focus_tokens) > 1:
        add("".join(t.word for t in focus_tokens), 2.0, "focus")
    return tuple(sorted(weights.values(), key=lambda term: (-term.weight, term.text)))
