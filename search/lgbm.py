"""The LightGBM models shipped as text (search/data/*.txt, each with a JSON record): loaded lazily,
checked against the features this code computes, predicted on one thread (a search is one small
batch; the server's threads are the parallelism)."""
from __future__ import annotations

import ctypes
import json
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar
from importlib import resources

import numpy as np

from wenda.indexer.errors import ModelError


@dataclass(frozen=True)
class ShippedModel:
    """A model of search/data/: subclasses name its files, its features and what trains it."""

    model_file: ClassVar[str]           # under search/
    record_file: ClassVar[str]
    features: ClassVar[Sequence[str]]
    trainer: ClassVar[str]              # the command that writes both files

    booster: object
    record: dict            # feature names, training command, held-out figures

    def predict(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.zeros(0)
        return np.asarray(self.booster.predict(features, num_threads=1), dtype=np.float64)

    @classmethod
    def from_text(cls, model_text: str, record: dict):
        return cls(load_booster(model_text, record, cls.features, f"search/{cls.model_file}", cls.trainer), record)

    @classmethod
    def shipped(cls):
        """The model installed with wenda, or None where it is not shipped."""
        files = read_bundled(cls.model_file, cls.record_file)
        return None if files is None else cls.from_text(*files)


def import_lightgbm():
    """lightgbm without its optional scikit-learn and pandas layers. Importing lightgbm imports both
    where they are installed (sentence-transformers brings scikit-learn): 2.7 s of a searcher's
    cold start on this machine, 0.5 s without them. wenda uses only Booster, train and Dataset,
    which need neither; where either was imported before, it is left as it is."""
    import sys

    if "lightgbm" in sys.modules:
        return sys.modules["lightgbm"]
    blocked = [name for name in ("sklearn", "pandas") if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None        # "import sklearn" raises ImportError: lightgbm goes without
    try:
        import lightgbm
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return lightgbm


def load_booster(model_text: str, record: dict, features: Sequence[str], what: str, retrain: str):
    """The booster of ``model_text``; ModelError unless it and its record read exactly ``features``."""
    lightgbm = import_lightgbm()
    with _one_thread(lightgbm):
        booster = lightgbm.Booster(model_str=model_text)
    if list(record.get("features", [])) != list(features) or list(booster.feature_name()) != list(features):
        raise ModelError(f"{what} was trained on other features than this code computes; retrain with {retrain}")
    return booster


@contextmanager
def _one_thread(lightgbm):
    """LightGBM on one OpenMP thread for what runs inside. Parsing a model on every core leaves an
    OpenMP team on the calling thread, and torch's team on its own thread (indexer/embed.py
    on_torch_thread) then shares the cores with it: bfloat16 query embeddings took 18-20 ms
    instead of 6.3-6.6 on the 2-core AMX Xeon once a model had been loaded (bench/torch_threads.md)."""
    lib, value = lightgbm.basic._LIB, ctypes.c_int(0)
    if not hasattr(lib, "LGBM_SetMaxThreads") or lib.LGBM_GetMaxThreads(ctypes.byref(value)) != 0:
        yield                           # lightgbm before 4.2: as before
        return
    lib.LGBM_SetMaxThreads(ctypes.c_int(1))
    try:
        yield
    finally:
        lib.LGBM_SetMaxThreads(value)


def read_bundled(model_file: str, record_file: str) -> tuple[str, dict] | None:
    """(model text, record) of a file pair under search/, or None where the model is not shipped."""
    files = resources.files(__package__)
    if not files.joinpath(model_file).is_file():
        return None
    record = json.loads(files.joinpath(record_file).read_text(encoding="utf-8"))
    return files.joinpath(model_file).read_text(encoding="utf-8"), record
