"""Hybrid search on the real seeds index: citations, paraphrases, bad input, batch = single."""
from __future__ import annotations

import json

import pytest

from wenda.indexer.errors import BadInput, InputTooLarge
from wenda.search.evaluate import Question, score_retrieval

from conftest import SEEDS

FILES = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}

QUERIES = ["徐汇区有多少家人工智能企业", "静安区数据智能企业", "普陀区城市安全大脑", "上海数字经济的主要瓶颈",
           "5G创新应用三年行动计划", "元宇宙相关企业", "科创集市为企业提供什么服务", "西岸智塔"]


def assert_cites_exactly(hit: dict) -> None:
    text = FILES[hit["source"]]
    assert hit["text"] == text[hit["start"]:hit["end"]]
    assert hit["passage_id"] == f"{hit['source']}#{hit['paragraph']}"
    assert all(isinstance(s, str) and s for s in hit["section"])


def test_every_hit_cites_the_exact_characters(searcher):
    for q in QUERIES:
        result = searcher.search(q, k=10)
        assert result.hits, q
        for hit in result.hits:
            d = hit.to_dict()
            assert_cites_exactly(d)
            assert set(d["scores"]) - {"ranked"} == {"dense", "lexical", "grams", "fused"}
        # The learned ranker's top (scores.ranked, by which they are ordered) comes first; below it
        # the fusion's order (scores.fused).
        ranked = [h.scores.ranked for h in result.hits if h.scores.ranked is not None]
        assert ranked == [h.scores.ranked for h in result.hits[:len(ranked)]] and len(ranked) >= 5
        assert ranked == sorted(ranked, reverse=True)
        rest = [h.scores.fused for h in result.hits[len(ranked):]]
        assert rest == sorted(rest, reverse=True)


@pytest.mark.parametrize("question, source, must_contain", [
    ("哪个区最早成为上海的人工智能集聚区", "002_d4cb951aedcfedf9.txt", "首个人工智能发展集聚区"),
    ("网购销售额翻倍多的百货商场", "000_8ea395dd2807991d.txt", "久光百货"),
    ("给科技小企业办的集市式服务", "001_bf23b14b4ba1a3d7.txt", "科创集市"),
    ("做线上教学的公司上海有多少", "004_9be9d13863edc5a7.txt", "互联网教育企业近700家"),
])
def test_paraphrased_questions_find_their_paragraph(searcher, question, source, must_contain):
    hits = searcher.search(question, k=3).hits
    assert any(h.passage.source == source and must_contain in h.passage.clean for h in hits), \
        [(h.passage.passage_id, h.passage.clean[:30]) for h in hits]


def test_dense_retrieval_alone_finds_paraphrases(searcher):
    """The vector side by itself: no shared keywords needed."""
    from wenda.indexer import vectors

    index = searcher.index
    qv = searcher.embed_queries(["徐汇有多少家做人工智能的公司"])
    _scores, ids = vectors.search(index.vectors, qv, 3)
    found = index.store.passages_by_rowid(ids[0].tolist())
    assert any("人工智能相关企业约710家" in sp.passage.clean for sp in found.values())


def test_traditional_characters_find_simplified_text(searcher):
    hits = searcher.search("徐匯區有多少家人工智慧企業", k=3).hits
    assert any("人工智能相关企业约710家" in h.passage.clean for h in hits)
    assert any("<mark>" in h.highlight for h in hits)


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_empty_queries_are_refused(searcher, query):
    with pytest.raises(BadInput, match="empty"):
        searcher.search(query)


def test_oversized_and_odd_queries(searcher):
    with pytest.raises(InputTooLarge, match="limit"):
        searcher.search("上海" * 50_000)
    with pytest.raises(BadInput, match="no words"):
        searcher.search("？？！！。。")
    with pytest.raises(BadInput, match="no words"):
        searcher.search("😀🎉")
    for odd in ["静安\x00区\x07企业", "AI companies in Shanghai", "上海 AI 产业 2018", 'NEAR("a" AND b) OR *', "\ud800上海",
                "数字经济" + "\u200b" * 5, '" OR 1=1 --', "静安区😀"]:
        hits = searcher.search(odd, k=3).hits
        assert 1 <= len(hits) <= 3, odd          # each has a word or a letter the corpus can match
        for hit in hits:
            assert_cites_exactly(hit.to_dict())


@pytest.mark.parametrize("k, expected", [(1, 1), (50, 50), (10_000, 50)])
def test_k_is_clamped(searcher, k, expected):
    assert len(searcher.search("上海", k=k).hits) <= expected
    if k == 10_000:
        assert len(searcher.search("上海", k=k).hits) == min(50, searcher.index.manifest["counts"]["passages"])


@pytest.mark.parametrize("k", [0, -1, 2.5, "3"])
def test_bad_k_is_refused(searcher, k):
    with pytest.raises(BadInput, match="k must"):
        searcher.search("上海", k=k)


def test_doc_filter(searcher):
    hits = searcher.search("人工智能", k=5, doc="002_*").hits
    assert hits and all(h.passage.source.startswith("002_") for h in hits)
    with pytest.raises(BadInput, match="no indexed document matches"):
        searcher.search("人工智能", doc="nothing*")


def test_duplicate_paragraphs_are_collapsed(searcher):
    # 002 repeats a paragraph fragment ("出了其科创底蕴…"); one copy is enough in the results
    hits = searcher.search("漕河泾开发区集聚了微软、腾讯、商汤科技、字节跳动", k=10).hits
    texts = [h.passage.clean for h in hits]
    assert not any(a != b and a in b for a in texts for b in texts if len(a) >= 20)


def test_search_batch_equals_one_by_one(searcher):
    batch = searcher.search_batch(QUERIES, k=5)
    for q, result in zip(QUERIES, batch):
        single = searcher.search(q, k=5)
        assert [h.passage.passage_id for h in result.hits] == [h.passage.passage_id for h in single.hits]


def test_embedding_beside_the_lexical_views_changes_no_score(searcher, monkeypatch):
    """A small batch is embedded in a worker thread while its lexical views are scored (a fixed
    typo embedded again); a large one in order. Every hit and score is the same either way."""
    import threading

    from wenda.search import searcher as module

    queries = QUERIES[:6] + ["普佗区城市安全大脑", "人工只能企业有多少"]       # two homophone typos
    threads: list[str] = []
    encode = searcher.embedder.encode_queries

    def recorded(texts, **kw):
        threads.append(threading.current_thread().name)
        return encode(texts, **kw)

    monkeypatch.setattr(searcher.embedder, "encode_queries", recorded)

    def run() -> list:
        searcher._query_cache.clear()
        results = searcher.search_batch(queries, k=5)
        return [(r.corrected, [(h.passage.passage_id, h.scores) for h in r.hits]) for r in results]

    beside = run()
    assert len(threads) == 2 and all(name.startswith("wenda-embed") for name in threads)   # typed, corrected
    assert beside[6][0] == "普陀区城市安全大脑" and beside[7][0].startswith("人工智能")
    threads.clear()
    monkeypatch.setattr(module, "_OVERLAP_MAX", 0)
    assert run() == beside
    assert threads == [threading.current_thread().name]


def test_cli_queries_file_equals_one_by_one(seeds_index, tmp_path, run_wenda, wenda_env):
    qfile = tmp_path / "queries.txt"
    qfile.write_text("\n".join(QUERIES[:4]) + "\n", encoding="utf-8")
    base = ["search", "--index-dir", str(seeds_index), "-k", "3", "--json"]
    out = run_wenda([*base, "--queries", str(qfile)], env=wenda_env)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["query"] for line in lines] == QUERIES[:4]
    one = run_wenda([*base, QUERIES[2]], env=wenda_env)
    assert json.loads(one.stdout)["hits"] == lines[2]["hits"] or \
        [h["passage_id"] for h in json.loads(one.stdout)["hits"]] == [h["passage_id"] for h in lines[2]["hits"]]
    for line in lines:
        for hit in line["hits"]:
            assert_cites_exactly(hit)


def test_retrieval_metrics_on_a_hand_made_set():
    qs = [Question("a", "q1", "d1.txt", ("苹果",)), Question("b", "q2", "d2.txt", ("香蕉",)),
          Question("c", "q3", None, ())]
    ranked = [
        [("d1.txt", "红苹果"), ("d9.txt", "x")],                        # relevant at rank 1
        [("d9.txt", "x"), ("d2.txt", "无"), ("d2.txt", "香 蕉")],        # rank 3 (whitespace ignored)
        [("d1.txt", "苹果")],                                            # unanswerable: ignored
    ]
    m = score_retrieval(ranked, qs, k=10, relevant_counts=[1, 1, 0])
    assert m["recall@1"] == 0.5 and m["recall@5"] == 1.0 and m["recall@10"] == 1.0
    assert m["mrr@10"] == round((1 + 1 / 3) / 2, 4)
    assert m["ndcg@10"] == round((1 + 0.5) / 2, 4)       # 1/log2(4) = 0.5


def test_squad_articles_as_documents_and_answers_by_position(tmp_path):
    """--documents article: one document per article (title, then paragraphs separated by blank
    lines); answer_start shifted into it, and a hit counts only when it spans that position (a
    whole article repeats words, so holding the answer's text somewhere is not enough)."""
    from wenda.search.evaluate import load_questions

    data = {"data": [{"id": "A1", "title": "港口", "paragraphs": [
        {"id": "A1_0", "context": "东海港有十二条航线。", "qas": [
            {"id": "q1", "question": "东海港有几条航线？", "answers": [{"text": "十二条", "answer_start": 4}]}]},
        {"id": "A1_1", "context": "西港也有十二条航线。", "qas": [
            {"id": "q2", "question": "西港有几条航线？", "answers": [{"text": "十二条", "answer_start": 4}]},
            {"id": "q3", "question": "北港有几条航线？", "is_impossible": True, "answers": []}]}]}]}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    kind, questions, corpus = load_questions(path, "article")
    assert kind == "squad" and list(corpus) == ["A1.txt"]
    text = corpus["A1.txt"]
    assert text == "港口\n\n东海港有十二条航线。\n\n西港也有十二条航线。"
    q1, q2, q3 = questions
    assert all(text[s:s + 3] == "十二条" for q in (q1, q2) for s in q.starts) and q1.starts != q2.starts
    assert q3.doc is None and {q.group for q in questions} == {"A1"}
    first = ("A1.txt", text[:14], (0, 14))           # title and the first paragraph
    second = ("A1.txt", text[14:], (14, len(text)))
    m = score_retrieval([[first, second], [first, second]], [q1, q2], k=10, relevant_counts=[1, 1])
    assert m["recall@1"] == 0.5 and m["mrr@10"] == 0.75
    _, by_paragraph, corpus = load_questions(path, "paragraph")
    assert sorted(corpus) == ["A1_0.txt", "A1_1.txt"] and by_paragraph[1].starts == (4,)
