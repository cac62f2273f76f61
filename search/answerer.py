"""Turning retrieved passages into an Answer: extractive by default, optionally written by an
LLM and checked, always with citations that quote the source exactly."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from wenda.indexer.embed import DEFAULT_MODEL
from wenda.indexer.errors import LLMError

from . import answer as extract
from . import answer_model, cross
from .answer_span import best_span
from .candidates import PASSAGES, SentenceCandidate, build_candidates, compose, feature_matrix, siblings_of
from .llm import LLMConfig, generate
from .question import Question, analyse_over
from .records import Answer, AnswerSpan, Hit, SearchResult
from .sentences import Sentence, clean_offsets

log = logging.getLogger("wenda.ask")


class Answerer:
    """Bound to one loaded index (its store tells which question terms the corpus knows)."""

    passages = PASSAGES         # how many top hits supply candidate sentences

    def __init__(self, index, embedder, model: answer_model.AnswerModel | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self._model = model
        self._second_look: tuple | None | bool = False     # False: not looked up yet

    @property
    def model(self) -> answer_model.AnswerModel:
        # Loaded at first use: term lookups (unknown_terms) need no model, training has none yet.
        if self._model is None:
            self._model = answer_model.bundled()
        return self._model

    def assess(self, result: SearchResult, analysis: Question | None = None
               ) -> tuple[SentenceCandidate | None, list[SentenceCandidate], Question]:
        """Every candidate sentence of the top hits with the model's probability that it answers
        the question; the best of them (None when there is none)."""
        question = result.searched
        analysis = analysis or analyse_over(question, self.index)
        if not analysis.is_question or analysis.is_noise:
            return None, [], analysis
        unknown = self.unknown_terms(question)
        candidates = build_candidates(question, analysis, result.hits, self.index.analyzer, len(unknown))
        if not candidates:
            return None, [], analysis
        for c, p in zip(candidates, self.model.probabilities(feature_matrix(candidates))):
            c.probability = float(p)
        top = sorted(candidates, key=lambda c: -c.probability)[:cross.TOP]
        if self.second_look is not None:
            combination, scorer = self.second_look
            siblings = siblings_of(candidates)
            texts = [extract.answer_text(compose(c, candidates, question, siblings)) for c in top]
            combined = combination.probabilities(np.array([c.probability for c in top]), scorer.scores(question, texts))
            for c, p in zip(top, combined):
                c.probability = float(p)
        return max(top, key=lambda c: c.probability), candidates, analysis

    @property
    def second_look(self) -> tuple[cross.Combination, cross.CrossScorer] | None:
        """The cross-encoder that reads the best candidates again (search/cross.py), with its
        combination; None where it is not shipped or the index uses another embedding model (its
        weights are the bundled model's)."""
        if self._second_look is False:
            combination = cross.combination()
            folder = getattr(self.embedder, "folder", None)
            bundled = getattr(self.embedder, "name", None) == DEFAULT_MODEL
            if combination and folder and bundled:
                # ONNX Runtime where the queries go through it: torch stays out of the process
                onnx = self.embedder.query_engine == "onnx"
                scorer = cross.scorer(folder, self.embedder.cache_dir if onnx else None, self.embedder.fingerprint)
                self._second_look = (combination, scorer)
            else:
                self._second_look = None
        return self._second_look

    @property
    def threshold(self) -> float:
        """The lowest probability answered: the combination's with the second look, else the model's."""
        return self.second_look[0].threshold if self.second_look is not None else self.model.threshold

    def unknown_terms(self, question: str, ignore_source: str | None = None) -> list[str]:
        """The question's specific terms (names, numbers, Latin words) that no passage holds."""
        specific = extract.specific_terms(question, self.index.analyzer)
        return [t for t in specific if not self._in_corpus(t, ignore_source)]

    def answer(self, result: SearchResult, started: float, k: int, llm: LLMConfig | None = None,
               on_text: Callable[[str], None] | None = None) -> Answer:
        answer = self._answer(result, started, k, llm, on_text)
        return replace(answer, corrected=result.corrected) if result.corrected else answer

    def _answer(self, result: SearchResult, started: float, k: int, llm: LLMConfig | None,
                on_text: Callable[[str], None] | None) -> Answer:
        question, hits = result.query, result.hits
        best, candidates, analysis = self.assess(result)
        if best is None:
            return self._not_found(question, hits[:k], started, 0.0)
        conf = best.probability
        if conf < self.threshold:
            return self._not_found(question, hits[:k], started, conf)
        pieces = compose(best, candidates, result.searched)
        citations = [self._citation(i, piece, hits, result.terms) for i, piece in enumerate(pieces, 1)]
        span = self._span(pieces, best.sentence, analysis)
        extractive = Answer(question, True, extract.answer_text(pieces), citations, hits[:k],
                            (time.perf_counter() - started) * 1000, conf, span=span)
        if llm is None:
            return extractive
        return self._with_llm(llm, extractive, hits[:k], on_text, started)

    def _span(self, pieces: list[Sentence], chosen: Sentence, analysis: Question) -> AnswerSpan | None:
        """The typed short answer: looked for in the chosen sentence first, then its neighbour."""
        ordered = sorted(pieces, key=lambda p: p.index != chosen.index)
        for piece in ordered:
            found = best_span(piece.clean, analysis, self.index.analyzer)
            if found is None:
                continue
            p = piece.passage
            offsets = [o for o in clean_offsets(p)[piece.lo + found.lo: piece.lo + found.hi] if o >= 0]
            if not offsets:
                continue
            start, end = offsets[0], offsets[-1] + 1
            text = p.text[start - p.start: end - p.start]
            return AnswerSpan(text, p.source, start, end, piece.start, piece.end)
        return None

    def _in_corpus(self, term: str, ignore_source: str | None = None) -> bool:
        """Whether any passage holds the term as written (a phrase of its character bigrams, so
        it does not depend on how jieba segmented the passage)."""
        grams = self.index.analyzer.grams(term)
        if not grams:
            return True
        return self.index.term_in_corpus(grams, ignore_source)

    def _citation(self, rank: int, piece: Sentence, hits: list[Hit], terms) -> Hit:
        from wenda.indexer.tokens import mark_terms

        p = piece.passage
        source_hit = next(h for h in hits if h.passage.passage_id == p.passage_id)
        text = p.text[piece.start - p.start: piece.end - p.start]
        highlight = mark_terms(piece.clean.replace("\n", ""), list(terms), self.index.analyzer)
        return Hit(rank, p, source_hit.scores, highlight, piece.start, piece.end, text)

    def _not_found(self, question: str, hits: list[Hit], started: float, conf: float) -> Answer:
        return Answer(question, False, extract.not_found_text(question), [], hits,
                      (time.perf_counter() - started) * 1000, conf)

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
