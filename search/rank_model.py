"""The learned ranker: a LightGBM lambdarank model over search/ranking.py's features that re-orders
the fused top candidates, stored as text (search/data/rank_model.txt) with its record
(rank_model.json: feature names, training command, held-out figures), written by
bench/train_ranking.py. Shipped only while it beats the fusion on held-out folds."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .lgbm import ShippedModel
from .ranking import RANK_FEATURES

MODEL_FILE = "data/rank_model.txt"
RECORD_FILE = "data/rank_model.json"


class RankModel(ShippedModel):
    model_file, record_file, features, trainer = MODEL_FILE, RECORD_FILE, RANK_FEATURES, "bench/train_ranking.py"

    def scores(self, features: np.ndarray) -> np.ndarray:
        return self.predict(features)


from_text = RankModel.from_text


@lru_cache(maxsize=1)
def bundled_ranker() -> RankModel | None:
    """The shipped ranker, or None where none is shipped (the fused order is served)."""
    return RankModel.shipped()
