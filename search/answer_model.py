"""The learned answer check: P(this sentence answers the question) from the features of
search/candidates.py, a LightGBM model stored as text (search/data/answer_model.txt) with its
record (answer_model.json: feature names, the answer threshold, the training command and the
held-out figures), both written by bench/train_answers.py."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from wenda.indexer.errors import ModelError

from .candidates import FEATURES
from .lgbm import ShippedModel

MODEL_FILE = "data/answer_model.txt"
RECORD_FILE = "data/answer_model.json"


class AnswerModel(ShippedModel):
    model_file, record_file, features, trainer = MODEL_FILE, RECORD_FILE, FEATURES, "bench/train_answers.py"

    @property
    def threshold(self) -> float:
        """The lowest probability that is answered."""
        return float(self.record["threshold"])

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return self.predict(features)


from_text = AnswerModel.from_text


@lru_cache(maxsize=1)
def bundled() -> AnswerModel:
    model = AnswerModel.shipped()
    if model is None:
        raise ModelError(f"search/{MODEL_FILE} is missing from this installation; reinstall wenda")
    return model
