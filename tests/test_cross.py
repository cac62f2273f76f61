"""The answer check's cross-encoder (search/cross.py): its input pairs, the shipped adapters over
the bundled model's weights, its scores at serving equal to the training forward's, and the
answerer using it for the best candidates on the real seeds index."""
from __future__ import annotations

import numpy as np
import pytest

from wenda.indexer import xlmr
from wenda.search import cross
from wenda.search.candidates import feature_matrix

pytestmark = pytest.mark.skipif(cross.record() is None, reason="no cross-encoder shipped")


@pytest.fixture(scope="module")
def folder(embedder):
    return embedder.folder


@pytest.fixture(scope="module")
def tokenizer(folder):
    return xlmr.load_tokenizer(folder / "tokenizer.json", xlmr.max_seq_length(folder))


def test_a_pair_is_the_models_template_cut_to_its_limits(tokenizer):
    ids = cross.pair_ids(tokenizer, "示例科技有多少员工？", "示例科技去年员工约860人。")
    assert ids[0] == 0 and ids[-1] == 2 and ids.count(2) == 3
    q = tokenizer.encode("query: 示例科技有多少员工？", add_special_tokens=False).ids
    assert ids[1:1 + len(q)] == q and ids[1 + len(q):3 + len(q)] == [2, 2]
    long = cross.pair_ids(tokenizer, "问" * 300, "答" * 2000)
    assert len(long) == cross.MAX_TOKENS
    assert long.index(2) == 1 + cross.QUESTION_TOKENS


def test_the_combination_reads_both_scores():
    f = cross.second_features(np.array([0.9, 0.5, 0.0]), np.array([-1.0, 2.0, 0.5]))
    assert f.shape == (3, len(cross.SECOND_FEATURES)) and np.isfinite(f).all()
    np.testing.assert_allclose(f[:2, 0], np.log([9, 1]))
    combination = cross.combination()
    p = combination.probabilities(np.array([0.9, 0.9]), np.array([-3.0, 3.0]))
    assert 0 < p[0] < p[1] < 1, "a higher cross-encoder score means a likelier answer"


def test_serving_scores_equal_the_training_forward(folder):
    """The training forward merges adapters that require grad into the base weights on every step;
    serving merges them once. Same function, same weights: the same logits."""
    import torch
    from safetensors.torch import load_file

    scorer = cross.scorer(folder)
    answers = ["示例科技去年员工约860人，营收约42亿元。", "示例科技总部位于杭州市滨江区。"]
    served = scorer.scores("示例科技有多少员工？", answers)
    trained = {k: v.clone().requires_grad_() for k, v in load_file(str(cross.WEIGHTS_FILE)).items()}
    w = cross.merged(cross.base_weights(folder), trained)
    w["head.weight"], w["head.bias"] = trained["head.weight"], trained["head.bias"]
    ids, mask = cross.padded([cross.pair_ids(scorer.tokenizer, "示例科技有多少员工？", a) for a in answers],
                             scorer.pad_id)
    again = cross.Network(folder).logits(w, torch.from_numpy(ids), torch.from_numpy(mask)).detach().numpy()
    assert np.isfinite(served).all()
    np.testing.assert_allclose(served, again, rtol=1e-4, atol=1e-4)
    assert served[0] > served[1], "the sentence that states the number asked for reads as the better answer"


def test_onnx_runtime_scores_equal_torchs(folder, cache_dir, embedder):
    """Served through ONNX Runtime (the graph exported once into the cache), as torch scores."""
    answers = ["示例科技去年员工约860人，营收约42亿元。", "示例科技总部位于杭州市滨江区。", "它成立于2011年。"]
    onnx = cross.scorer(folder, cache_dir, embedder.fingerprint)
    assert onnx.engine == "onnx" and cross.scorer(folder).engine == "torch"
    np.testing.assert_allclose(onnx.scores("示例科技有多少员工？", answers),
                               cross.scorer(folder).scores("示例科技有多少员工？", answers), rtol=1e-4, atol=1e-4)


def test_the_answerer_takes_the_second_look(searcher):
    result = searcher.search("普陀区累计开通了多少个5G室外基站？", k=5)
    answerer = searcher._answerer(searcher.index)
    assert answerer.second_look is not None
    combination, scorer = answerer.second_look
    assert answerer.threshold == combination.threshold
    best, candidates, _ = answerer.assess(result)
    model_p = answerer.model.probabilities(feature_matrix(candidates))
    top = np.argsort(-model_p, kind="stable")[:cross.TOP]
    assert best in [candidates[i] for i in top]
    assert best.probability >= combination.threshold and "2694" in best.sentence.clean


def test_an_index_of_another_embedding_model_keeps_the_answer_model_alone(searcher):
    """The adapters are trained on the bundled model's layers: with another model there is no
    second look, and the answer model's own threshold decides."""
    from types import SimpleNamespace

    from wenda.search.answerer import Answerer

    other = SimpleNamespace(name="some/other-model", folder=searcher.embedder.folder, fingerprint="0" * 16)
    answerer = Answerer(searcher.index, other)
    assert answerer.second_look is None and answerer.threshold == answerer.model.threshold
