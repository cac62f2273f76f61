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

from .candidates import FEATURES
from .lgbm import load_booster, predict

MODEL_FILE = "data/answer_model.txt"
RECORD_FILE = "data/answer_model.json"


@dataclass(frozen=True)
class AnswerModel:
    booster: object
    threshold: float
    record: dict

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return predict(self.booster, features)


def from_text(model_text: str, record: dict) -> AnswerModel:
    booster = load_booster(model_text, record, FEATURES, "search/data/answer_model.* (from search/candidates.py)",
                           "bench/train_answers.py")
    return AnswerModel(booster, float(record["threshold"]), record)


@lru_cache(maxsize=1)
def bundled() -> AnswerModel:
    files = resources.files(__package__)
    record = json.loads(files.joinpath(RECORD_FILE).read_text(encoding="utf-8"))
    return from_text(files.joinpath(MODEL_FILE).read_text(encoding="utf-8"), record)
