"""Turning retrieved passages into an Answer: extractive by default, optionally written by an
LLM and checked, always with citations that quote the source exactly."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from wenda.indexer.errors import LLMError

from . import answer as extract
from .llm import LLMConfig, generate
from .records import Answer, Hit, SearchResult
from .sentences import Sentence

log = logging.getLogger("wenda.ask")


class Answerer:
    """Bound to one loaded index (its store tells which question terms the corpus knows)."""

    def __init__(self, index, embedder, weights: extract.AnswerWeights = extract.AnswerWeights()) -> None:
        self.index = index
        self.embedder = embedder
        self.weights = weights

    def assess(self, result: SearchResult, ignore_source: str | None = None
               ) -> tuple[extract.Candidate | None, list[extract.Candidate], dict[str, float]]:
        """The best answer candidate, all candidates, and the evidence features of the confidence
        model. ``ignore_source``: judge term knowledge as if that document were not indexed (the
        calibration asks questions with their own document taken away)."""
        question, hits = result.query, result.hits
        analyzer = self.index.analyzer
        passages = [h.passage for h in hits[: self.weights.passages]]
        candidates = extract.score_candidates(question, passages, analyzer, self.weights)
        if not candidates:
            return None, [], {}
        best = max(candidates, key=lambda c: c.score)
        specific = extract.specific_terms(question, analyzer)
        unknown = [t for t in specific if not self._in_corpus(t, ignore_source)]
        p = best.passage
        context = analyzer.fold("".join([p.title, *p.section, p.clean]))
        missing = [t for t in specific if t not in unknown and t not in context]
        return best, candidates, extract.evidence_features(question, best, hits, analyzer, unknown, missing)

    def answer(self, result: SearchResult, started: float, k: int, llm: LLMConfig | None = None,
               on_text: Callable[[str], None] | None = None) -> Answer:
        question, hits = result.query, result.hits
        best, candidates, features = self.assess(result)
        if best is None:
            return self._not_found(question, hits[:k], started, 0.0)
        conf = extract.confidence(features)
        if conf < extract.confidence_model()["threshold"]:
            return self._not_found(question, hits[:k], started, conf, features)
        pieces = extract.compose(best, candidates, question)
        citations = [self._citation(i, piece, hits, result.terms) for i, piece in enumerate(pieces, 1)]
        extractive = Answer(question, True, extract.answer_text(pieces), citations, hits[:k],
                            (time.perf_counter() - started) * 1000, conf, extra={"features": features})
        if llm is None:
            return extractive
        return self._with_llm(llm, extractive, hits[:k], on_text, started)

    def _in_corpus(self, term: str, ignore_source: str | None = None) -> bool:
        """Whether any passage holds the term as written (a phrase of its character bigrams, so
        it does not depend on how jieba segmented the passage)."""
        grams = self.index.analyzer.grams(term)
        if not grams:
            return True
        return self.index.store.holds_phrase(" ".join(grams), "grams", outside=ignore_source)

    def _citation(self, rank: int, piece: Sentence, hits: list[Hit], terms) -> Hit:
        from wenda.indexer.tokens import mark_terms

        p = piece.passage
        source_hit = next(h for h in hits if h.passage.passage_id == p.passage_id)
        text = p.text[piece.start - p.start: piece.end - p.start]
        highlight = mark_terms(piece.clean.replace("\n", ""), list(terms), self.index.analyzer)
        return Hit(rank, p, source_hit.scores, highlight, piece.start, piece.end, text)

    def _not_found(self, question: str, hits: list[Hit], started: float, conf: float,
                   features: dict | None = None) -> Answer:
        return Answer(question, False, extract.not_found_text(question), [], hits,
                      (time.perf_counter() - started) * 1000, conf, extra={"features": features or {}})

    def _with_llm(self, llm: LLMConfig, extractive: Answer, hits: list[Hit],
                  on_text: Callable[[str], None] | None, started: float) -> Answer:
        try:
            reply = generate(llm, extractive.question, hits, on_text)
        except LLMError as exc:
            log.warning("LLM answer not used: %s", exc)
            return replace(extractive, note=f"LLM 回答未采用（{exc}），以下为原文摘录答案。",
                           took_ms=(time.perf_counter() - started) * 1000)
        if reply.not_found:
            return Answer(extractive.question, False, reply.text, [], hits,
                          (time.perf_counter() - started) * 1000, extractive.confidence, mode="llm")
        citations = [Hit(i, hits[n - 1].passage, hits[n - 1].scores, hits[n - 1].highlight)
                     for i, n in enumerate(reply.cited, 1)]
        return Answer(extractive.question, True, reply.text, citations, hits,
                      (time.perf_counter() - started) * 1000, extractive.confidence, mode="llm",
                      extra={"extractive": extractive.answer})
