"""Signals for re-ranking the fused candidates: what passage-level scores cannot see.

For the top ``DEPTH`` candidates of a query's fused ranking, ``rank_features`` computes, per
passage, the retrievers' scores standardised over the pool, and signals read from the passage's
text against the question analysis (search/question.py):

- sentence windows: the best single sentence's (and adjacent pair's) share of the question's
  weighted terms and of its content bigrams, beside the whole passage's share;
- constraints: the share of the question's places, organisations, years, names the passage (or its
  title and section path) holds, and "rivals": another district, city or year named where the
  question's one is not (a passage about 普陀区 for a question about 徐汇区);
- the query's lexical reach: the share of its term weight that no candidate holds (English words,
  typos, rare spellings), so a learned ranker can lean on the dense view when the words miss.

Training (bench/rank_data.py, bench/train_ranking.py) and serving (Searcher) call the same
function, so a model sees at serving exactly the features it was trained on.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from wenda.indexer.records import Passage
from wenda.indexer.tokens import Analyzer

from .answer import content_grams
from .question import Question
from .sentences import sentence_texts

# Candidates re-ranked per query. A run of bench/train_ranking.py with the top 20 gained +0.0118 hit@1
# (95%: +0.0074..+0.0167) over the fusion; the same model class on its top 10 alone +0.0115
# (+0.0071..+0.0164), for half the feature time.
DEPTH = 10

RANK_FEATURES = (
    "fused", "fused_gap", "fused_rank",
    "dense", "dense_z", "dense_gap", "words_z", "grams_z",
    "term_cover", "sentence_cover", "pair_cover", "heading_cover",
    "gram_cover", "sentence_gram_cover", "pair_gram_cover",
    "constraint_cover", "constraint_heading", "constraint_sentence", "rival_heading", "rival_text",
    "length", "sentences",
    "query_terms", "query_unreached", "query_english", "query_constraints",
)

# Names that end in one of these and stand for one place or one year among others of its kind.
_RIVAL_SUFFIXES = ("省", "市", "区", "县", "镇", "乡", "街道", "州")
_GENERIC_PLACES = frozenset({"地区", "园区", "社区", "城区", "市区", "小区", "辖区", "郊区", "山区", "景区", "街区",
                             "全市", "全区", "全省", "本市", "本区", "该市", "该区", "城市", "都市", "全州",
                             "集聚区", "示范区", "开发区", "试验区", "功能区", "先行区", "核心区", "保税区", "自贸区",
                             "片区", "新城区", "中心城区", "城乡", "地市", "省市"})
_YEAR = re.compile(r"(?:19|20)\d\d年")
_LATIN = re.compile(r"[a-z]")


def _zscore(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def _coverages(items: list[tuple[str, float]], total: float, pieces: list[str]) -> list[float]:
    """Each piece's share of the terms' total weight."""
    if total <= 0:
        return [0.0] * len(pieces)
    return [sum([w for t, w in items if t in piece]) / total for piece in pieces]


def _rival_pattern(constraint: str) -> re.Pattern | None:
    """What names another place or year of the constraint's kind; None when it is not a
    district/city/year-like name."""
    if _YEAR.fullmatch(constraint):
        return _YEAR
    suffix = next((s for s in _RIVAL_SUFFIXES if constraint.endswith(s) and len(constraint) > len(s) + 1), None)
    return re.compile(rf"[\u4e00-\u9fff]{{1,3}}{suffix}") if suffix else None


def _rivals(constraint: str, pattern: re.Pattern, text: str) -> tuple[int, int]:
    """(mentions of the constraint, mentions of others of its kind) in ``text``. Greedy matches may
    take a character before the name ("在普陀区"), so a match holding the constraint is its own;
    generic words (园区, 全市) are no one's."""
    others = 0
    for name in pattern.findall(text):
        if constraint in name or any(name.endswith(g) for g in _GENERIC_PLACES):
            continue
        others += 1
    return text.count(constraint), others


def rank_features(question: Question, analyzer: Analyzer, passages: Sequence[Passage],
                  signals: dict[str, np.ndarray], fused: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """One row of RANK_FEATURES per candidate in ``chosen`` (indexes into the pool's arrays, in
    fused order); ``passages[i]`` is the passage of ``chosen[i]``."""
    n = len(chosen)
    out = np.zeros((n, len(RANK_FEATURES)), dtype=np.float64)
    if n == 0:
        return out
    dense_z, words_z, grams_z = (_zscore(signals[s].astype(np.float64)) for s in ("dense", "words", "grams"))
    top_fused = float(fused[chosen[0]])
    top_dense = float(signals["dense"].max())

    weights: dict[str, float] = {}
    for t in question.terms:
        weights[t.text] = max(weights.get(t.text, 0.0), t.weight)
    items, total = list(weights.items()), sum(weights.values())
    gram_items = [(g, 1.0) for g in dict.fromkeys(content_grams(analyzer, question.text))]
    constraints = [c.text for c in question.constraints]
    rivalled = [(c, pattern) for c in constraints if (pattern := _rival_pattern(c)) is not None]
    folded = [analyzer.fold(p.clean) for p in passages]
    heading_of: dict[tuple, str] = {}
    headings = [heading_of.setdefault((p.title, p.section), analyzer.fold(" ".join((p.title, *p.section))))
                for p in passages]
    reached = {t for t in weights if any(t in f or t in h for f, h in zip(folded, headings))}
    unreached = sum(w for t, w in items if t not in reached) / total if total else 1.0
    english = len(_LATIN.findall(question.folded)) / max(len(question.folded), 1)
    n_constraints = len(constraints)
    for i, (j, p) in enumerate(zip(chosen, passages)):
        text, heading = folded[i], headings[i]
        sentences = sentence_texts(text) or [text]
        pairs = [a + b for a, b in zip(sentences, sentences[1:])] or sentences
        whole = heading + " " + text
        pieces = [whole, heading, *sentences, *pairs]
        cover = _coverages(items, total, pieces)
        gram_cover = _coverages(gram_items, len(gram_items), pieces)
        s_end = 2 + len(sentences)
        rival_heading = rival_text = 0.0
        for c, pattern in rivalled:
            own_h, others_h = _rivals(c, pattern, heading)
            own_t, others_t = _rivals(c, pattern, text)
            if others_h and not own_h:
                rival_heading = 1.0
            if others_t:
                rival_text = max(rival_text, others_t / (others_t + own_t))
        if n_constraints:
            constraint_cover = sum(c in whole for c in constraints) / n_constraints
            constraint_heading = sum(c in heading for c in constraints) / n_constraints
            constraint_sentence = max(sum(c in s for c in constraints) for s in sentences) / n_constraints
        else:
            constraint_cover = constraint_heading = constraint_sentence = 1.0
        row = {
            "fused": float(fused[j]), "fused_gap": top_fused - float(fused[j]), "fused_rank": i,
            "dense": float(signals["dense"][j]), "dense_z": dense_z[j], "dense_gap": top_dense - float(signals["dense"][j]),
            "words_z": words_z[j], "grams_z": grams_z[j],
            "term_cover": cover[0], "sentence_cover": max(cover[2:s_end]), "pair_cover": max(cover[s_end:]),
            "heading_cover": cover[1],
            "gram_cover": gram_cover[0], "sentence_gram_cover": max(gram_cover[2:s_end]),
            "pair_gram_cover": max(gram_cover[s_end:]),
            "constraint_cover": constraint_cover, "constraint_heading": constraint_heading,
            "constraint_sentence": constraint_sentence,
            "rival_heading": rival_heading, "rival_text": rival_text,
            "length": math.log1p(len(p.clean)), "sentences": len(sentences),
            "query_terms": len(weights), "query_unreached": unreached, "query_english": english,
            "query_constraints": n_constraints,
        }
        out[i] = [row[name] for name in RANK_FEATURES]
    return out
