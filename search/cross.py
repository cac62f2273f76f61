"""The answer check's second look: a small cross-encoder that reads the question and a candidate
answer together and says whether the answer says what was asked.

The LightGBM answer model (answer_model.py) reads features of term overlap, typed phrases and
ranks; it cannot tell a sentence that is on the question's topic from one that states what the
question asks (the adversarial questions of SQuAD 2.0 are made to be on topic). So the model's
best ``TOP`` candidates are read again by the first ``LAYERS`` layers of the bundled
multilingual-e5-small, fine-tuned here on public data with low-rank adapters (LoRA: the bundled
weights stay as they are; search/data/answer_cross.safetensors holds the adapters and the
classification head, 2.6 MB), and a logistic combination of both scores (answer_cross.json, with
its threshold and held-out figures) decides. Training (bench/train_cross.py) and serving run the
same forward pass: indexer/xlmr.py's layers over the merged weights, the first token's vector, the
head.
"""
from __future__ import annotations

import hashlib
import json
import threading
import warnings
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wenda.indexer.errors import ModelError

if TYPE_CHECKING:
    import torch

DATA = Path(__file__).parent / "data"
WEIGHTS_FILE = DATA / "answer_cross.safetensors"
RECORD_FILE = DATA / "answer_cross.json"

# Of the model's 12 layers: the second look must fit in an ask's latency budget. Held out, 4 layers
# gained +0.011 right-minus-wrong per question over the answer model alone (-0.001 to +0.022;
# bench/train_cross_l4.md), 6 layers +0.026 (+0.016 to +0.036; bench/train_cross.md).
LAYERS = 6
RANK, ALPHA = 16, 32    # LoRA rank and scale
TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
           "attention.output.dense", "intermediate.dense", "output.dense")
QUESTION_TOKENS, MAX_TOKENS = 64, 192
# Candidates read again, by the answer model's probability: the best one. Held out, reading the best
# 2 or 3 and letting the combination choose among them made no difference in right-minus-wrong
# answers; the best 3 with both scores' ranks and gaps among them in the combination gained +0.008
# per question (+0.003 to +0.014) at three times the cross-encoder's latency (bench/train_cross.md).
TOP = 1
GRAPH_VERSION = 1


def pair_ids(tokenizer, question: str, answer: str) -> list[int]:
    """``<s> query: Q </s></s> passage: A </s>`` (the model's own prompts and pair template), the
    question cut to QUESTION_TOKENS and the answer to what is left of MAX_TOKENS."""
    q = tokenizer.encode("query: " + question, add_special_tokens=False).ids[:QUESTION_TOKENS]
    a = tokenizer.encode("passage: " + answer, add_special_tokens=False).ids[:MAX_TOKENS - len(q) - 4]
    return [0, *q, 2, 2, *a, 2]


def padded(rows: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, np.int64)
    mask = np.zeros((len(rows), width), np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
        mask[i, :len(r)] = 1
    return ids, mask


def base_weights(folder: Path) -> dict[str, "torch.Tensor"]:
    """The bundled model's embeddings and first LAYERS layers as float32 tensors; the word table
    stays memory-mapped (a batch reads only its tokens' rows of its 384 MB)."""
    import torch

    from wenda.indexer.onnx_query import safetensors_arrays

    arrays = safetensors_arrays(folder / "model.safetensors")
    out = {}
    for key, array in arrays.items():
        name = key.removeprefix("roberta.")
        if name.startswith("encoder.layer.") and int(name.split(".")[2]) >= LAYERS:
            continue
        if not (name.startswith("encoder.layer.") or name.startswith("embeddings.")):
            continue
        with warnings.catch_warnings():     # read-only map: nothing ever writes to these tensors
            warnings.simplefilter("ignore", UserWarning)
            out[name] = torch.from_numpy(array if name == "embeddings.word_embeddings.weight" else np.array(array))
    return out


def adapter_names() -> list[str]:
    return [f"encoder.layer.{i}.{t}.weight" for i in range(LAYERS) for t in TARGETS]


def merged(base: dict, adapters: dict) -> dict:
    """The base weights with each adapter's low-rank update added: W + (alpha/rank) B A. Run on
    tensors that require grad, this is also the training forward's weights."""
    w = dict(base)
    for name in adapter_names():
        w[name] = base[name] + (ALPHA / RANK) * (adapters[name + ".B"] @ adapters[name + ".A"])
    return w


class Network:
    """indexer/xlmr.py's encoder over given weights, cut to LAYERS layers, with the head."""

    def __init__(self, folder: Path) -> None:
        from wenda.indexer import xlmr

        self.encoder = xlmr.Encoder.__new__(xlmr.Encoder)      # its methods, not its weight loading
        self.encoder.config = replace(xlmr.Config.read(folder), layers=LAYERS)

    def logits(self, w: dict, ids: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
        return self.head(w, self.encoder._forward(ids, mask, w))

    @staticmethod
    def head(w: dict, x: "torch.Tensor") -> "torch.Tensor":
        from torch.nn import functional as F

        return F.linear(x[:, 0], w["head.weight"], w["head.bias"]).squeeze(-1)


def trained_weights(folder: Path, weights_file: Path) -> dict:
    """The base weights with the shipped adapters merged in, and the head."""
    import torch
    from safetensors.torch import load_file

    try:
        trained = load_file(str(weights_file))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {weights_file}: {exc}; reinstall wenda") from exc
    with torch.no_grad():
        w = merged(base_weights(folder), trained)
    w["head.weight"], w["head.bias"] = trained["head.weight"], trained["head.bias"]
    return w


def export_graph(folder: Path, weights_file: Path, dest: Path) -> None:
    """The trained layers and head as an ONNX graph: embedded tokens and mask in, logits out."""
    import torch

    from wenda.indexer import onnx_query

    network, w = Network(folder), trained_weights(folder, weights_file)

    class Logits(torch.nn.Module):
        def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return network.head(w, network.encoder.layers(tokens, mask.bool()[:, None, None, :], w))

    onnx_query.export_module(Logits(), network.encoder.config.hidden, dest, "logits")


# What the combination reads of a candidate: the answer model's logit and the cross-encoder's.
SECOND_FEATURES = ("model_logit", "cross")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def second_features(model_p: np.ndarray, cross_logits: np.ndarray) -> np.ndarray:
    """SECOND_FEATURES of candidates (rows)."""
    return np.column_stack([logit(model_p), np.asarray(cross_logits, dtype=np.float64)])


@dataclass(frozen=True)
class Combination:
    """P(answered right) = sigmoid(features . coefficients + intercept); answered at ``threshold``."""
    coefficients: tuple[float, ...]
    intercept: float
    threshold: float

    def probabilities(self, model_p: np.ndarray, cross_logits: np.ndarray) -> np.ndarray:
        z = second_features(model_p, cross_logits) @ np.array(self.coefficients) + self.intercept
        return 1 / (1 + np.exp(-np.clip(z, -50, 50)))


class CrossScorer:
    """The cross-encoder's logit for (question, answer text) pairs.

    Through ONNX Runtime where the query embeddings go through it (no torch in the process; the
    graph is exported once per model and adapters, into ``cache_dir``/onnx, like the query graph),
    else through torch, the training forward itself."""

    def __init__(self, folder: Path, cache_dir: Path | None = None, fingerprint: str = "",
                 weights_file: Path = WEIGHTS_FILE) -> None:
        from wenda.indexer import onnx_query, xlmr

        config = xlmr.Config.read(folder)
        self.pad_id = config.pad_id
        self.tokenizer = xlmr.load_tokenizer(folder / "tokenizer.json", xlmr.max_seq_length(folder))
        self.engine = "onnx" if cache_dir is not None and onnx_query.available() else "torch"
        if self.engine == "onnx":
            digest = hashlib.sha256(fingerprint.encode() + weights_file.read_bytes()).hexdigest()[:16]
            graph = onnx_query.ensure(Path(cache_dir) / "onnx" / f"answer-cross-{digest}-v{GRAPH_VERSION}.onnx",
                                      lambda dest: export_graph(folder, weights_file, dest),
                                      what="answer-check graph")
            self._embed = onnx_query.Embeddings(folder, config.pad_id, config.eps)
            self._session = onnx_query.session(graph)
        else:
            self.network = Network(folder)
            self.weights = trained_weights(folder, weights_file)

    def scores(self, question: str, answers: list[str]) -> np.ndarray:
        from wenda.indexer.embed import on_torch_thread

        if not answers:
            return np.zeros(0, dtype=np.float32)
        ids, mask = padded([pair_ids(self.tokenizer, question, a) for a in answers], self.pad_id)
        if self.engine == "onnx":
            return self._session.run(None, {"tokens": self._embed(ids), "mask": mask})[0]
        return on_torch_thread(self._torch_scores, ids, mask)

    def _torch_scores(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.network.logits(self.weights, torch.from_numpy(ids), torch.from_numpy(mask)).numpy()


def record() -> dict | None:
    """The shipped record (combination, threshold, figures), None where no model is shipped."""
    if not (RECORD_FILE.is_file() and WEIGHTS_FILE.is_file()):
        return None
    return json.loads(RECORD_FILE.read_text(encoding="utf-8"))


def combination() -> Combination | None:
    r = record()
    if r is None:
        return None
    if r["combination"]["features"] != list(SECOND_FEATURES) or r.get("layers") != LAYERS:
        raise ModelError(f"{RECORD_FILE} is for other features or layers than this code computes; "
                         "retrain with bench/train_cross.py")
    c = r["combination"]
    return Combination(tuple(float(x) for x in c["coefficients"]), float(c["intercept"]), float(r["threshold"]))


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _scorer(folder: str, cache_dir: str | None, fingerprint: str) -> CrossScorer:
    return CrossScorer(Path(folder), Path(cache_dir) if cache_dir else None, fingerprint)


def scorer(folder: Path, cache_dir: Path | None = None, fingerprint: str = "") -> CrossScorer:
    """One scorer per model and engine in a process (its weights are tens of MB)."""
    with _lock:
        return _scorer(str(folder), str(cache_dir) if cache_dir else None, fingerprint)
