"""Encoding without sentence-transformers (indexer/xlmr.py DirectEncoder) gives the same vectors bit for bit."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wenda.indexer.embed import Embedder

ROOT = Path(__file__).resolve().parent.parent


def _texts() -> list[str]:
    out = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))]     # > 512 tokens
    for text in out[:]:
        out += [line.strip() for line in text.splitlines() if line.strip()][:12]   # short and long lines
    return out + ["", " ", "AR/VR", "徐汇区有多少家人工智能企业？", "a" * 3000, "<unk> 𠮷 Ａ\u0301"]


@pytest.mark.slow
def test_direct_equals_sentence_transformers(embedder):
    if embedder._direct is None:
        pytest.skip("this model goes through sentence-transformers")
    via_st = Embedder(embedder._model, embedder.name, embedder.fingerprint)
    embedder = Embedder(None, embedder.name, embedder.fingerprint, embedder._direct)   # queries by torch too
    texts = _texts()
    # In batches of 8 (padding: long and short texts share a batch; a shorter last batch), and one
    # text at a time (no padding: the whole articles, truncated at 512 tokens, and every third line).
    assert np.array_equal(embedder.encode_documents(texts, batch_size=8), via_st.encode_documents(texts, batch_size=8))
    alone = texts[:5] + texts[5::3]
    assert np.array_equal(embedder.encode_documents(alone, batch_size=1), via_st.encode_documents(alone, batch_size=1))
    queries = texts[5:60:3]
    assert np.array_equal(embedder.encode_queries(queries), via_st.encode_queries(queries))
    single = np.vstack([embedder.encode_queries([q]) for q in queries[:10]])
    assert np.array_equal(single, np.vstack([via_st.encode_queries([q]) for q in queries[:10]]))
    assert (embedder.dim, embedder.max_seq_length) == (via_st.dim, via_st.max_seq_length)
    assert embedder._token_lengths(texts) == via_st._token_lengths(texts)
    assert embedder._prompts == via_st._prompts and embedder._prompts
