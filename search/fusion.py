"""Fusing the dense and lexical rankings of one query's candidate pool into one score.

The methods compared in bench/fusion.md; the default is the one that measured best there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("zscore", "minmax", "rrf", "dense", "lexical")


@dataclass(frozen=True)
class FusionParams:
    method: str = "zscore"
    lexical_weight: float = 0.5      # share of the lexical side, dense gets 1 - lexical_weight
    rrf_k: float = 60.0
    candidates: int = 100            # depth taken from each retriever before fusing

    def as_dict(self) -> dict:
        return {"method": self.method, "lexical_weight": self.lexical_weight, "rrf_k": self.rrf_k,
                "candidates": self.candidates}


def _zscore(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def _minmax(x: np.ndarray) -> np.ndarray:
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 1e-9 else np.zeros_like(x)


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based rank of each entry, highest score first."""
    order = np.argsort(-x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    return ranks


def fuse(dense: np.ndarray, lexical: np.ndarray, params: FusionParams) -> np.ndarray:
    """Fused scores for a pool: ``dense`` cosines and ``lexical`` BM25 scores (0 = no match)."""
    if len(dense) == 0:
        return dense.astype(np.float64)
    w = params.lexical_weight
    dense = dense.astype(np.float64)
    lexical = lexical.astype(np.float64)
    if params.method == "zscore":
        return (1 - w) * _zscore(dense) + w * _zscore(lexical)
    if params.method == "minmax":
        return (1 - w) * _minmax(dense) + w * _minmax(lexical)
    if params.method == "rrf":
        lex_rr = np.where(lexical > 0, 1.0 / (params.rrf_k + _ranks(lexical)), 0.0)
        return (1 - w) / (params.rrf_k + _ranks(dense)) + w * lex_rr
    if params.method == "dense":
        return dense
    if params.method == "lexical":
        return lexical + 1e-6 * dense      # dense breaks ties among non-matching passages
    raise ValueError(f"unknown fusion method {params.method!r}; choose one of {', '.join(METHODS)}")
