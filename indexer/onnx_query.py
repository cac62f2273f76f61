"""Query embeddings through ONNX Runtime, without torch (issue 19, item 5).

A search embeds one short question (~20 tokens). The plain-torch encoder (indexer/xlmr.py) spends
most of that time on per-operator dispatch, not arithmetic; ONNX Runtime runs the same graph of
the same weights with fused kernels in 0.47-0.57x the time per query on this 2-core machine
(bench/query_engine.md), and without importing torch, which is seconds of a server's cold start.

The graph is exported once per model from ``xlmr.Encoder.layers`` (torch is needed only then, and
a build always has it) and cached beside the expanded model as ``<cache>/onnx/<fingerprint>-layers-v1.onnx``
with a checksum file (its size, sha256, and the quick fingerprint that spares later processes the
sha256); the word, position and token-type embeddings (250,002 x 384 of the 118M
parameters) stay out of it and are looked up here in numpy, so the graph file is 85 MB, not 470.
Vectors agree with the torch encoder's at cosine > 0.99999 (tests/test_onnx_query.py); the
passages of an index are still embedded by torch: on batches of 32, ONNX Runtime was no
faster (bench/query_engine.md).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import threading
import warnings
from pathlib import Path

import numpy as np

from wenda.indexer.errors import ModelError
from wenda.indexer.bundled_model import write_json_quietly
from wenda.indexer.manifest import quick_fingerprint

log = logging.getLogger("wenda.onnx_query")

GRAPH_VERSION = 1
_lock = threading.Lock()
_verified: dict[str, tuple[int, int]] = {}     # graph path -> (size, mtime_ns) whose sha256 matched


def graph_path(cache_dir: Path, fingerprint: str) -> Path:
    return Path(cache_dir) / "onnx" / f"{fingerprint}-layers-v{GRAPH_VERSION}.onnx"


def available() -> bool:
    """onnxruntime is installed (a dependency; without it, queries fall back to torch)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_layers(folder: Path, dest: Path) -> None:
    """Write the encoder's layers and mean pooling, from embedded tokens and their mask to pooled
    (not yet normalised) vectors, as an ONNX graph at ``dest``."""
    import torch

    from wenda.indexer import xlmr

    encoder = xlmr.Encoder(folder)

    class Layers(torch.nn.Module):
        def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            x = encoder.layers(tokens, mask.bool()[:, None, None, :], encoder._w)
            m = mask.unsqueeze(-1).to(x.dtype)      # sentence-transformers' mean pooling
            return (x * m).sum(dim=1) / torch.clamp(m.sum(dim=1), min=1e-9)

    export_module(Layers(), encoder.dim, dest, "pooled")


def export_module(module, dim: int, dest: Path, output: str) -> None:
    """Write ``module`` (embedded tokens and their mask in, ``output`` out) as an ONNX graph at
    ``dest``, atomically, with ``dest``.json holding its size, sha256 and quick fingerprint."""
    import torch

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    example = (torch.zeros(2, 7, dim), torch.ones(2, 7, dtype=torch.int64))
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)     # "legacy exporter": chosen, below
            # The TorchScript exporter: it needs neither onnx nor onnxscript, and this graph has no
            # control flow for the newer torch.export one to capture.
            torch.onnx.export(module, example, str(tmp), input_names=["tokens", "mask"],
                              output_names=[output], opset_version=17, dynamo=False,
                              dynamic_axes={"tokens": {0: "batch", 1: "length"},
                                            "mask": {0: "batch", 1: "length"}, output: {0: "batch"}})
        # a rename keeps the mtime, so the fingerprint taken here holds for dest
        checks = {"size": tmp.stat().st_size, "sha256": _sha256(tmp), "fingerprint": quick_fingerprint(tmp)}
        tmp.with_suffix(".json").write_text(json.dumps(checks), encoding="utf-8")
        os.replace(tmp.with_suffix(".json"), dest.with_suffix(".json"))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".json").unlink(missing_ok=True)


def ensure_graph(folder: Path, cache_dir: Path, fingerprint: str, full: bool = True) -> Path:
    """The graph of the model in ``folder``, exported first if missing or damaged; ``full``: its
    sha256 checked (once per process and file version), else its size."""
    return ensure(graph_path(cache_dir, fingerprint), lambda dest: export_layers(folder, dest), full)


def ensure(dest: Path, export, full: bool = True, what: str = "query graph") -> Path:
    """``dest``, written by ``export(dest)`` first if missing or damaged."""
    with _lock:
        problem = _check(dest, full)
        if problem is not None:
            if dest.exists():
                log.warning("%s %s is damaged (%s); exporting it again", what, dest, problem)
            try:
                export(dest)
            except OSError as exc:
                raise ModelError(f"cannot write the {what} {dest}: {exc}") from exc
            except (RuntimeError, ImportError) as exc:      # torch.onnx's errors are RuntimeErrors
                raise ModelError(f"cannot export the {what} {dest}: {exc}") from exc
            problem = _check(dest)
            if problem is not None:
                raise ModelError(f"the {what} {dest} fails its check right after export: {problem}")
    return dest


def _check(dest: Path, full: bool = True) -> str | None:
    """None if ``dest`` matches its checksum file (``full``: its sha256 too)."""
    try:
        want = json.loads(dest.with_suffix(".json").read_text(encoding="utf-8"))
        st = dest.stat()
    except (OSError, ValueError) as exc:
        return f"{exc.__class__.__name__}"
    if st.st_size != want.get("size"):
        return f"{st.st_size} bytes, expected {want.get('size')}"
    key = (st.st_size, st.st_mtime_ns)
    if full and _verified.get(str(dest)) != key:
        fingerprint = quick_fingerprint(dest)
        if want.get("fingerprint") != fingerprint:      # changed since its last full check
            if _sha256(dest) != want.get("sha256"):
                return "sha256 mismatch"
            write_json_quietly(dest.with_suffix(".json"), {**want, "fingerprint": fingerprint})
        _verified[str(dest)] = key
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def safetensors_arrays(path: Path) -> dict[str, np.memmap]:
    """The float32 tensors of a safetensors file as read-only memory maps (its documented layout:
    an 8-byte little-endian header size, a JSON header of dtypes, shapes and byte offsets, data)."""
    try:
        with path.open("rb") as fh:
            size = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(size))
        arrays = {}
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            if meta["dtype"] != "F32":
                raise ModelError(f"{path}: {name} is {meta['dtype']}; the query graph reads float32 weights")
            start, end = meta["data_offsets"]
            arrays[name] = np.memmap(path, np.float32, "r", offset=8 + size + start, shape=tuple(meta["shape"]))
            if arrays[name].nbytes != end - start:
                raise ModelError(f"{path}: {name} has {end - start} bytes for shape {meta['shape']}")
        return arrays
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc


class Embeddings:
    """The model's token embeddings in numpy: word + token type 0 + position, then LayerNorm, as
    ``xlmr.Encoder.embed`` computes them. The word table is memory-mapped: a batch reads the rows
    of its tokens, not the 384 MB table."""

    def __init__(self, folder: Path, pad_id: int, eps: float) -> None:
        weights = safetensors_arrays(folder / "model.safetensors")

        def tensor(name: str) -> np.ndarray:
            for key in (name, "roberta." + name):
                if key in weights:
                    return weights[key]
            raise ModelError(f"{folder}/model.safetensors lacks {name}")
        self._words = tensor("embeddings.word_embeddings.weight")
        self._positions = np.array(tensor("embeddings.position_embeddings.weight"))
        self._type0 = np.array(tensor("embeddings.token_type_embeddings.weight")[0])
        self._norm_w = np.array(tensor("embeddings.LayerNorm.weight"))
        self._norm_b = np.array(tensor("embeddings.LayerNorm.bias"))
        self._pad, self._eps = pad_id, eps

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        not_pad = ids != self._pad
        positions = np.cumsum(not_pad, axis=1) * not_pad + self._pad
        x = self._words[ids] + self._type0 + self._positions[positions]
        mean = x.mean(axis=-1, keepdims=True)
        var = np.square(x - mean).mean(axis=-1, keepdims=True)
        return ((x - mean) / np.sqrt(var + self._eps) * self._norm_w + self._norm_b).astype(np.float32)


def session(graph: Path, threads: int = 0):
    """An ONNX Runtime session of ``graph`` on the CPU; ``threads``: intra-op threads (0: one per core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # Threads that sleep rather than spin while they wait: spinning threads are what made torch's
    # two-thread queries 10-60x slower whenever another process held a core (indexer/core_watch.py);
    # without spinning, two threads measured 13 ms a query with the other core free and 19 ms with
    # it busy, against 19-20 ms for one thread either way (bench/query_engine.md).
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own unexported exception types
        raise ModelError(f"onnxruntime cannot load {graph}: {exc}") from exc


class OnnxQueryEncoder:
    """``encode(texts)``: L2-normalised float32 vectors, as ``xlmr.DirectEncoder.encode`` gives;
    ``threads``: ONNX Runtime's intra-op threads (0: one per core)."""

    def __init__(self, folder: Path, graph: Path, tokenizer, pad_id: int, eps: float, threads: int = 0) -> None:
        self._embed = Embeddings(folder, pad_id, eps)
        self._pad = pad_id
        self.tokenizer = tokenizer
        self.threads = threads
        self._session = session(graph, threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encoded)
        ids = np.full((len(encoded), width), self._pad, np.int64)
        mask = np.zeros((len(encoded), width), np.int64)
        for row, e in enumerate(encoded):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        pooled = self._session.run(None, {"tokens": self._embed(ids), "mask": mask})[0]
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
