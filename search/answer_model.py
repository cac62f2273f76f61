"""The learned answer check: P(this sentence answers the question) from the features of
search/candidates.py, a LightGBM model stored as text (search/data/answer_model.txt) with its
record (answer_model.json: feature names, the answer threshold, the training command and the
held-out figures), both written by bench/train_answers.py."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from wenda.indexer.errors import ModelError

from .candidates import FEATURES

MODEL_FILE = "data/answer_model.txt"
RECORD_FILE = "data/answer_model.json"


@dataclass(frozen=True)
class AnswerModel:
    booster: object
    threshold: float
    record: dict

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.zeros(0)
        return np.asarray(self.booster.predict(features, num_threads=1), dtype=np.float64)


def check_record(record: dict, model_features: list[str]) -> None:
    """The model must read exactly the features this code computes, in this order."""
    if list(record.get("features", [])) != list(FEATURES) or list(model_features) != list(FEATURES):
        raise ModelError("search/data/answer_model.* were trained on other features than search/candidates.py "
                         "computes; retrain with bench/train_answers.py")


def from_text(model_text: str, record: dict) -> AnswerModel:
    import lightgbm

    booster = lightgbm.Booster(model_str=model_text)
    check_record(record, booster.feature_name())
    return AnswerModel(booster, float(record["threshold"]), record)


@lru_cache(maxsize=1)
def bundled() -> AnswerModel:
    files = resources.files(__package__)
    record = json.loads(files.joinpath(RECORD_FILE).read_text(encoding="utf-8"))
    return from_text(files.joinpath(MODEL_FILE).read_text(encoding="utf-8"), record)
