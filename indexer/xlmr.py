"""The XLM-RoBERTa encoder (the bundled multilingual-e5-small) in plain torch, without transformers.

Importing transformers' model classes took 2.4 s of a 6.3 s cold start on this 2-core machine,
and its per-layer bookkeeping (mask factories, output dataclasses, kwargs plumbing) about 3 ms of
each ~17 ms query embedding. This module runs the same operations in the same order on the same
weights - embeddings (word + token type 0 + position, positions counted from the padding id as
fairseq does), then per layer: q/k/v projections, scaled-dot-product attention with a boolean
padding mask (none when nothing is padded), output projection + residual + LayerNorm, exact-erf
GELU feed-forward + residual + LayerNorm - so its hidden states equal transformers'
``XLMRobertaModel`` (sdpa attention) bit for bit; tests/test_direct.py checks that on padded
batches and single queries.
"""
from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Config:
    hidden: int
    heads: int
    layers: int
    eps: float
    pad_id: int

    @classmethod
    def read(cls, folder: Path) -> "Config":
        raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if raw.get("model_type") != "xlm-roberta" or raw.get("hidden_act", "gelu") != "gelu" \
                or raw.get("position_embedding_type", "absolute") != "absolute" or raw.get("is_decoder"):
            raise ValueError(f"{folder}: not a plain XLM-RoBERTa encoder")
        return cls(int(raw["hidden_size"]), int(raw["num_attention_heads"]), int(raw["num_hidden_layers"]),
                   float(raw["layer_norm_eps"]), int(raw["pad_token_id"]))


@functools.cache
def bf16_native() -> bool:
    """The CPU multiplies bfloat16 natively (AVX512-BF16 or AMX). Elsewhere oneDNN emulates it,
    slower than float32 (torch's own "bf16 supported" check also says yes for plain AVX-512)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


class Encoder:
    """``last_hidden_state(ids, mask)``: the encoder's token vectors for a padded batch.

    ``half=True`` runs the matrix products in bfloat16 (torch autocast, the weights cast once):
    a single query's embedding takes ~30% less time on a CPU with native bfloat16, and agrees with
    float32 at cosine > 0.9999. Searches of large indexes use it (search/searcher.py)."""

    def __init__(self, folder: Path) -> None:
        from safetensors.torch import load_file

        self.config = Config.read(folder)
        weights = load_file(str(folder / "model.safetensors"))
        self._w = {k.removeprefix("roberta."): v.float() for k, v in weights.items()}
        missing = [k for k in self._names() if k not in self._w]
        if missing:
            raise KeyError(f"{folder}/model.safetensors lacks {missing[0]} (and {len(missing) - 1} more)")
        self._half: dict[str, torch.Tensor] | None = None

    def _names(self) -> list[str]:
        names = [f"embeddings.{n}" for n in ("word_embeddings.weight", "position_embeddings.weight",
                                              "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias")]
        for i in range(self.config.layers):
            p = f"encoder.layer.{i}."
            for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                         "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                         "output.dense", "output.LayerNorm"):
                names += [p + part + ".weight", p + part + ".bias"]
        return names

    @property
    def dim(self) -> int:
        return self.config.hidden

    def last_hidden_state(self, ids: torch.Tensor, mask: torch.Tensor, half: bool = False) -> torch.Tensor:
        import torch

        if not half:
            return self._forward(ids, mask, self._w)
        if self._half is None:      # linear layers' weights in bfloat16; embeddings, norms stay float32
            self._half = {k: v.bfloat16() if ".dense." in k or ".self." in k else v for k, v in self._w.items()}
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self._forward(ids, mask, self._half).float()

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
        batch, length = ids.shape
        # transformers skips the mask when nothing is padded, and otherwise passes a boolean one
        attend = None if bool(mask.all()) else mask.bool()[:, None, None, :].expand(batch, 1, length, length)
        return self.layers(self.embed(ids, w), attend, w)

    def embed(self, ids: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
        """Word + token type 0 + position embeddings, then their LayerNorm."""
        import torch
        from torch.nn import functional as F

        c = self.config
        # Positions count non-padding tokens from pad_id + 1; padding keeps pad_id (fairseq).
        not_pad = ids.ne(c.pad_id).int()
        positions = (torch.cumsum(not_pad, dim=1).type_as(not_pad) * not_pad).long() + c.pad_id
        x = F.embedding(ids, w["embeddings.word_embeddings.weight"])
        x = x + F.embedding(torch.zeros_like(ids), w["embeddings.token_type_embeddings.weight"])
        x = x + F.embedding(positions, w["embeddings.position_embeddings.weight"])
        return F.layer_norm(x, (c.hidden,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], c.eps)

    def layers(self, x: torch.Tensor, attend: torch.Tensor | None, w: dict[str, torch.Tensor]) -> torch.Tensor:
        """The transformer layers over embedded tokens; ``attend``: a boolean (batch, 1, 1 or
        length, length) mask of the keys each token may attend to, None for all."""
        from torch.nn import functional as F

        c = self.config
        batch, length, _ = x.shape
        head = c.hidden // c.heads
        split = (batch, length, c.heads, head)
        for i in range(c.layers):
            p = f"encoder.layer.{i}."
            q = F.linear(x, w[p + "attention.self.query.weight"], w[p + "attention.self.query.bias"])
            k = F.linear(x, w[p + "attention.self.key.weight"], w[p + "attention.self.key.bias"])
            v = F.linear(x, w[p + "attention.self.value.weight"], w[p + "attention.self.value.bias"])
            a = F.scaled_dot_product_attention(q.view(split).transpose(1, 2), k.view(split).transpose(1, 2),
                                               v.view(split).transpose(1, 2), attn_mask=attend, dropout_p=0.0,
                                               scale=head ** -0.5, is_causal=False)
            a = a.transpose(1, 2).contiguous().reshape(batch, length, -1).contiguous()
            a = F.linear(a, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"])
            x = F.layer_norm(a + x, (c.hidden,), w[p + "attention.output.LayerNorm.weight"],
                             w[p + "attention.output.LayerNorm.bias"], c.eps)
            h = F.gelu(F.linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]))
            h = F.linear(h, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
            x = F.layer_norm(h + x, (c.hidden,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], c.eps)
        return x


# -- the whole sentence-transformers pipeline (Transformer -> mean pooling -> Normalize) ----------
# Importing sentence-transformers (and the scikit-learn it pulls in) is most of a cold start: 8 of
# the 20 s to a first answer measured on a busy 2-core machine. For folders whose pipeline is the
# one below, such as the bundled multilingual-e5-small, the Encoder above runs on the same token ids
# and its output is pooled with the very operations of sentence-transformers' Pooling and Normalize
# modules, so the vectors are the same bit for bit (tests/test_direct.py).

def supported(folder: Path) -> bool:
    """The folder's sentence-transformers pipeline is one this module reproduces."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return False
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    return (kinds == ["Transformer", "Pooling", "Normalize"] and modes == ["pooling_mode_mean_tokens"]
            and pooling.get("include_prompt", True) and (folder / "tokenizer.json").is_file()
            and (folder / "model.safetensors").is_file() and config.get("model_type") == "xlm-roberta"
            and config.get("hidden_act", "gelu") == "gelu" and not config.get("is_decoder")
            and config.get("position_embedding_type", "absolute") == "absolute")


def load_tokenizer(path: Path, max_length: int):
    """The tokenizer of tokenizer.json, truncating at ``max_length``; parsed once per process per
    file version (a 17 MB JSON: about a second), since every encoder of one model uses it the
    same way and a Tokenizer may be shared between threads."""
    st = path.stat()
    return _tokenizer(str(path), st.st_size, st.st_mtime_ns, st.st_ino, max_length)


@functools.lru_cache(maxsize=4)
def _tokenizer(path: str, _size: int, _mtime_ns: int, _inode: int, max_length: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    tokenizer.enable_truncation(max_length)
    tokenizer.no_padding()
    return tokenizer


def max_seq_length(folder: Path) -> int:
    sbert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8")) \
        if (folder / "sentence_bert_config.json").is_file() else {}
    return int(sbert.get("max_seq_length") or 512)


class DirectEncoder:
    """Tokenizer, prompts and sizes at once; the torch weights (and torch itself, seconds of a cold
    start) on first ``encode`` unless ``load_weights``: a server whose queries go through ONNX
    Runtime (indexer/onnx_query.py) imports torch only if it embeds documents."""

    def __init__(self, folder: Path, load_weights: bool = True) -> None:
        sbert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8")) \
            if (folder / "sentence_bert_config.json").is_file() else {}
        st_config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8")) \
            if (folder / "config_sentence_transformers.json").is_file() else {}
        self.max_seq_length = max_seq_length(folder)
        self.prompts = dict(st_config.get("prompts") or {})
        self.tokenizer = load_tokenizer(folder / "tokenizer.json", self.max_seq_length)
        self.config = Config.read(folder)
        self.dim = self.config.hidden
        self._folder = folder
        self._model: Encoder | None = Encoder(folder) if load_weights else None
        self._lock = threading.Lock()

    @property
    def model(self) -> Encoder:
        with self._lock:
            if self._model is None:
                self._model = Encoder(self._folder)
        return self._model

    def token_lengths(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def encode(self, texts: list[str], half: bool = False) -> np.ndarray:
        """One batch, padded to its longest text, as sentence-transformers does; ``half``: matrix
        products in bfloat16 (indexer/xlmr.py)."""
        import torch

        encoded = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encoded)
        pad = self.config.pad_id
        ids = torch.tensor([e.ids + [pad] * (width - len(e.ids)) for e in encoded], dtype=torch.int64)
        mask = torch.tensor([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in encoded], dtype=torch.int64)
        with torch.inference_mode():
            tokens = self.model.last_hidden_state(ids, mask, half)
            # sentence_transformers Pooling._forward_padded, mode "mean", then Normalize
            m = mask.unsqueeze(-1).to(tokens.dtype)
            total = (tokens * m).sum(dim=1, dtype=tokens.dtype)
            count = torch.clamp(m.sum(dim=1, dtype=tokens.dtype), min=1e-9)
            vecs = torch.nn.functional.normalize(total / count, p=2, dim=-1)
        return vecs.numpy()
