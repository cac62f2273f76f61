"""Typed results: a Hit is a citation (contract shape), an Answer carries its citations."""
from __future__ import annotations

from dataclasses import dataclass, field

from wenda.indexer.records import Passage


@dataclass(frozen=True, slots=True)
class Scores:
    dense: float        # cosine similarity of query and passage embeddings
    lexical: float      # FTS5 BM25 over jieba tokens (0 when no term matches)
    grams: float        # FTS5 BM25 over character bigrams
    fused: float        # the fusion of the three (search/fusion.py)
    # The learned ranker's score (search/rank_model.py) for the hits it ordered: the fused top 10.
    # Hits below them keep the fusion's order, and None here.
    ranked: float | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    rank: int
    passage: Passage
    scores: Scores
    highlight: str                       # HTML-escaped display text with <mark> around matched terms
    start: int | None = None             # a sub-span of the passage (answer citations), else the passage
    end: int | None = None
    text: str | None = None

    @property
    def score(self) -> float:
        """The score the hits are ordered by: the learned ranker's where it ran, else the fusion's."""
        return self.scores.fused if self.scores.ranked is None else self.scores.ranked

    def to_dict(self, debug: bool = True) -> dict:
        p = self.passage
        out = {
            "rank": self.rank,
            "score": round(self.score, 4),
            "passage_id": p.passage_id,
            "source": p.source,
            "title": p.title,
            "section": list(p.section),
            "paragraph": p.paragraph,
            "start": p.start if self.start is None else self.start,
            "end": p.end if self.end is None else self.end,
            "text": p.text if self.text is None else self.text,
            "highlight": self.highlight,
        }
        if p.pages:     # PDF passages: the pages this hit's characters lie on
            out["page"], out["page_end"] = p.pages_of(out["start"], out["end"]) or (p.page, p.page_end)
        if debug:
            out["scores"] = {"dense": round(self.scores.dense, 4), "lexical": round(self.scores.lexical, 4),
                             "grams": round(self.scores.grams, 4), "fused": round(self.scores.fused, 4)}
            if self.scores.ranked is not None:
                out["scores"]["ranked"] = round(self.scores.ranked, 4)
        return out


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    hits: list[Hit]
    took_ms: float
    terms: tuple[str, ...] = ()          # the lexical terms the query was reduced to
    corrected: str | None = None         # the query searched for, where homophone typos were fixed

    @property
    def searched(self) -> str:
        return self.corrected or self.query

    def to_dict(self) -> dict:
        out = {"query": self.query, "hits": [h.to_dict() for h in self.hits], "took_ms": round(self.took_ms, 1)}
        if self.corrected:
            out["corrected"] = self.corrected
        return out


@dataclass(frozen=True, slots=True)
class AnswerSpan:
    """The short answer inside the answer's first citation: ``text == file_text[start:end]``."""

    text: str
    source: str
    start: int
    end: int
    sentence_start: int          # the cited sentence it lies in
    sentence_end: int

    def to_dict(self) -> dict:
        return {"text": self.text, "source": self.source, "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    found: bool
    answer: str
    citations: list[Hit]
    passages: list[Hit]
    took_ms: float
    confidence: float = 0.0
    mode: str = "extractive"             # or "llm"
    note: str | None = None              # e.g. why the LLM answer was not used
    extra: dict = field(default_factory=dict)
    span: AnswerSpan | None = None       # the typed short answer ("约710家"), when the question asks for one
    corrected: str | None = None         # the question answered, where homophone typos were fixed

    def to_dict(self) -> dict:
        out = {
            "question": self.question,
            "found": self.found,
            "answer": self.answer,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "took_ms": round(self.took_ms, 1),
            "confidence": round(self.confidence, 4),
            "mode": self.mode,
            "answer_span": self.span.to_dict() if self.span else None,
        }
        if self.note:
            out["note"] = self.note
        if self.corrected:
            out["corrected"] = self.corrected
        return out
