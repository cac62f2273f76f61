"""Encoding without sentence-transformers, for folders whose pipeline is Transformer -> mean
pooling (prompt included) -> Normalize, such as the bundled multilingual-e5-small.

Importing sentence-transformers (and the scikit-learn it pulls in) is most of a cold start: 8 of
the 20 s to a first answer measured on a busy 2-core machine; transformers' model classes another
2.4 s of 6.3. Here the encoder of indexer/xlmr.py (the same operations as transformers'
XLMRobertaModel, in plain torch) runs on the same token ids, and its output is pooled with the very
operations of sentence-transformers' Pooling and Normalize modules, so the vectors are the same
bit for bit (tests/test_direct.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


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


class DirectEncoder:
    def __init__(self, folder: Path) -> None:
        import torch
        from tokenizers import Tokenizer

        from wenda.indexer.xlmr import Encoder

        self._torch = torch
        sbert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8")) \
            if (folder / "sentence_bert_config.json").is_file() else {}
        st_config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8")) \
            if (folder / "config_sentence_transformers.json").is_file() else {}
        self.max_seq_length = int(sbert.get("max_seq_length") or 512)
        self.prompts = dict(st_config.get("prompts") or {})
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        self.model = Encoder(folder)
        self.dim = self.model.dim

    def token_lengths(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def encode(self, texts: list[str], half: bool = False) -> np.ndarray:
        """One batch, padded to its longest text, as sentence-transformers does; ``half``: matrix
        products in bfloat16 (indexer/xlmr.py)."""
        torch = self._torch
        encoded = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encoded)
        pad = self.model.config.pad_id
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
