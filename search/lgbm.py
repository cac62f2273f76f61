"""The LightGBM models shipped as text (search/data/*.txt, each with a JSON record): loaded lazily,
checked against the features this code computes, predicted on one thread (a search is one small
batch; the server's threads are the parallelism)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wenda.indexer.errors import ModelError


def load_booster(model_text: str, record: dict, features: Sequence[str], what: str, retrain: str):
    """The booster of ``model_text``; ModelError unless it and its record read exactly ``features``."""
    import lightgbm

    booster = lightgbm.Booster(model_str=model_text)
    if list(record.get("features", [])) != list(features) or list(booster.feature_name()) != list(features):
        raise ModelError(f"{what} was trained on other features than this code computes; retrain with {retrain}")
    return booster


def predict(booster, features: np.ndarray) -> np.ndarray:
    if len(features) == 0:
        return np.zeros(0)
    return np.asarray(booster.predict(features, num_threads=1), dtype=np.float64)
