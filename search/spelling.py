"""Homophone typos: "普佗区" for "普陀区", "人工只能" for "人工智能".

Chinese is typed through pinyin input methods, so a typo is usually a character of the same
pinyin picked from the candidate list. Such a character makes the query's character bigrams ones
the corpus has never seen. A character beside an unknown bigram is replaced by a homophone when
every bigram it takes part in becomes known and the corrected window occurs as a phrase in some
passage: three characters, four where the evidence is weaker (one of its bigrams was known, or
it ends a run). Never touched: stop words, words holding a question word (the corpus's prose
rarely says 哪里), and characters inside a dictionary word unless the correction makes a longer
one (周长 is not a typo of 州长; 人工只能 is one of 人工智能). Names the corpus lacks, English words
and digits stay as typed.

The homophone table (search/data/homophones.json) holds the 6,763 characters of GB 2312 by the
toneless pinyin of their first reading, from pypinyin's dictionary; `python -m
wenda.search.spelling --write` rebuilds it (pypinyin is needed only for that, in the test extras).
"""
from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

from wenda.indexer.tokens import Analyzer

_TABLE = Path(__file__).parent / "data" / "homophones.json"
MAX_CHARS = 100          # longer queries are passages pasted in, not typed
QUESTION_CHARS = frozenset("哪谁何啥几吗呢么")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")

# grams -> the passage count of each the corpus holds (absent ones left out); None when it cannot tell
KnownGrams = Callable[[list[str]], "dict[str, int] | None"]
# bigrams -> whether some passage holds them one after the other
HoldsPhrase = Callable[[list[str]], bool]


def toneless(syllable: str) -> str:
    """'lǘ' -> 'lv', 'zhōng' -> 'zhong' (v for ü, as pinyin keyboards type it)."""
    decomposed = unicodedata.normalize("NFD", syllable).replace("u\u0308", "v")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def build_table() -> dict[str, str]:
    """Toneless syllable -> the GB 2312 characters whose first (most common) reading it is, from
    pypinyin. Rare readings would make 能 a homophone of 太 and 南 one of 哪."""
    from pypinyin.pinyin_dict import pinyin_dict

    by_sound: dict[str, list[str]] = {}
    for code in sorted(pinyin_dict):
        ch = chr(code)
        try:
            ch.encode("gb2312")
        except UnicodeEncodeError:
            continue
        if not "\u4e00" <= ch <= "\u9fff":
            continue
        by_sound.setdefault(toneless(pinyin_dict[code].split(",")[0]), []).append(ch)
    return {sound: "".join(chars) for sound, chars in sorted(by_sound.items())}


@functools.cache
def homophones() -> dict[str, str]:
    """Character -> the other characters of its reading."""
    by_sound: dict[str, str] = json.loads(_TABLE.read_text("utf-8"))
    return {ch: chars.replace(ch, "") for chars in by_sound.values() for ch in chars}


def correct(folded: str, analyzer: Analyzer, known_grams: KnownGrams, holds_phrase: HoldsPhrase) -> str | None:
    """``folded`` (an Analyzer.fold-ed query) with its homophone typos replaced, or None when
    nothing is replaced (or the backend cannot list its bigrams)."""
    runs = [(m.start(), m.group()) for m in _HAN_RUN.finditer(folded)]
    if not runs or len(folded) > MAX_CHARS:
        return None
    grams = list(dict.fromkeys(run[i:i + 2] for _, run in runs for i in range(len(run) - 1)))
    known = known_grams(grams)
    if known is None or len(known) == len(grams):
        return None
    table = homophones()
    words = _word_spans(folded, analyzer)
    keep = {i for start, end, word in words if _is_protected(word, analyzer) for i in range(start, end)}
    word_at = {i: (start, end, word) for start, end, word in words for i in range(start, end)}
    # the places to try: characters beside an unknown bigram; their homophones' bigrams in one lookup
    suspects = []
    for offset, run in runs:
        text = list(run)
        for p in range(len(text)):
            around = _around(text, p)
            unknown = sum(g not in known for g in around)
            if unknown and text[p] in table and offset + p not in keep:
                # Weaker evidence (one bigram known, as "只能" in "人工只能", or the run's first or
                # last character): the correction must make a longer phrase.
                suspects.append((offset, text, p, 3 if unknown == 2 else 4))
    stopwords = analyzer.stopwords
    options = {(offset, p): {o: _around(text, p, o) for o in table[text[p]] if o not in stopwords}
               for offset, text, p, _ in suspects}
    looked_up = known_grams(list(dict.fromkeys(g for by_char in options.values() for grams in by_char.values()
                                               for g in grams))) or {}
    chars = list(folded)
    replaced_at = -2
    for offset, text, p, size in suspects:
        if offset + p == replaced_at + 1:    # its left bigram is the one just made known
            continue
        fitting = [(min(looked_up[g] for g in grams), o) for o, grams in options[offset, p].items()
                   if all(g in looked_up for g in grams)]
        # the most common first; several may fit, the phrase decides
        for _, o in sorted(fitting, key=lambda f: (-f[0], f[1]))[:5]:
            # the jieba check first: the phrase check reads passages
            if _still_a_word(chars, offset + p, o, word_at, analyzer) and holds_phrase(_window(text, p, o, size)):
                chars[offset + p] = o
                replaced_at = offset + p
                break
    return "".join(chars) if replaced_at >= 0 else None


def _word_spans(text: str, analyzer: Analyzer) -> list[tuple[int, int, str]]:
    out, at = [], 0
    for word in analyzer.cut(text):
        out.append((at, at + len(word), word))
        at += len(word)
    return out


def _is_protected(word: str, analyzer: Analyzer) -> bool:
    """Words never to touch: stop words and words holding a question word, which the corpus's
    prose rarely holds ("在哪里" would become "在那里", "谁" "水")."""
    return word in analyzer.stopwords or any(ch in QUESTION_CHARS for ch in word)


def _still_a_word(chars: list[str], at: int, replacement: str, word_at: dict, analyzer: Analyzer) -> bool:
    """A character inside a dictionary word ("周长", "退出") is changed only into a longer word that
    spans it ("人工只能" -> "人工智能"): a real word the corpus lacks is not a typo ("周长" "州长")."""
    start, end, word = word_at[at]
    if len(word) < 2 or not analyzer.is_word(word):
        return True
    fixed = "".join(chars[:at]) + replacement + "".join(chars[at + 1:])
    lo, hi = max(0, start - 4), min(len(fixed), end + 4)
    for s, e, w in _word_spans(fixed[lo:hi], analyzer):
        if s + lo <= at < e + lo:
            return len(w) > len(word) and analyzer.is_word(w)
    return False


def _around(text: list[str], p: int, ch: str | None = None) -> list[str]:
    """The bigrams character ``p`` takes part in (with ``ch`` in its place)."""
    c = text[p] if ch is None else ch
    out = []
    if p > 0:
        out.append(text[p - 1] + c)
    if p + 1 < len(text):
        out.append(c + text[p + 1])
    return out


def _window(text: list[str], p: int, ch: str, size: int) -> list[str]:
    """The bigrams of ``size`` characters from the one before ``p`` (fewer in a shorter run)."""
    lo = max(0, min(p - 1, len(text) - size))
    chars = text[lo:lo + size]
    chars[p - lo] = ch
    return ["".join(chars[i:i + 2]) for i in range(len(chars) - 1)]


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m wenda.search.spelling --write   (rebuilds search/data/homophones.json)")
    table = build_table()
    _TABLE.write_text(json.dumps(table, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{_TABLE}: {len(table)} syllables, {sum(map(len, table.values()))} entries")
