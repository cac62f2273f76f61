"""`wenda eval`: retrieval and answer quality on a question set.

Two inputs:
- JSON Lines ``{"question", "doc", "answer"}`` over an indexed corpus (``doc: null`` marks a
  question the corpus does not answer);
- SQuAD-format JSON (CMRC 2018 is one): every paragraph becomes one document of a corpus that
  is written out and indexed in a work folder (once; reused while unchanged).

A retrieved passage is relevant when it comes from the expected source and contains the expected
answer, compared after removing whitespace and unifying full-/half-width forms.
"""
from __future__ import annotations

import json
import math
import re
import statistics
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from wenda.indexer.errors import BadInput

_WHITESPACE = dict.fromkeys(map(ord, " \t\r\n\u3000\xa0\u200b"), None)


def normalise(text: str) -> str:
    """For comparing answers: NFKC (full-/half-width), lowercase, no whitespace."""
    return unicodedata.normalize("NFKC", text).lower().translate(_WHITESPACE)


@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    doc: str | None              # expected source; None = unanswerable
    answers: tuple[str, ...]     # any of them counts
    starts: tuple[int, ...] = ()     # SQuAD: where each answer starts in the document's text
    group: str = ""                  # the article it was written from (cross-validation folds)
    style: str = ""                  # how it is typed (seeds_styles.jsonl: keywords, traditional ...)


DOCUMENT_UNITS = ("paragraph", "article")


def load_questions(path: Path, documents: str = "paragraph") -> tuple[str, list[Question], dict[str, str] | None]:
    """(kind, questions, corpus) — corpus maps file name -> text for SQuAD input, else None.
    ``documents``: a SQuAD file's paragraphs are each one document, or each article is one
    (its title, then its paragraphs separated by blank lines), so passages compete inside it."""
    if documents not in DOCUMENT_UNITS:
        raise BadInput(f"documents must be one of {', '.join(DOCUMENT_UNITS)}, not {documents!r}")
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {path}: {exc}") from None
    stripped = raw.lstrip()
    if stripped.startswith("{") and '"data"' in stripped[:2000]:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            return ("squad", *_squad_questions(data, documents))
    questions = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            q, doc, answer = obj["question"], obj.get("doc"), obj.get("answer")
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise BadInput(f"{path}:{n}: expected a JSON object with question, doc and answer") from None
        if doc is not None and not answer:
            raise BadInput(f"{path}:{n}: an answerable question needs an answer")
        questions.append(Question(obj.get("id") or f"q{n}", q, doc, (answer,) if doc is not None else (),
                                  group=doc or f"none:{obj.get('style', '')}{n % 5}", style=str(obj.get("style") or "")))
    if not questions:
        raise BadInput(f"{path} holds no questions")
    return "jsonl", questions, None


def _squad_questions(data: dict, documents: str = "paragraph") -> tuple[list[Question], dict[str, str]]:
    corpus: dict[str, str] = {}
    questions: list[Question] = []
    for a, article in enumerate(data["data"]):
        article_id = str(article.get("id") or article.get("title") or f"article{a}")
        offset, texts = 0, []
        if documents == "article":
            title = str(article.get("title") or article_id)
            texts, offset = [title], len(title) + 2
            name = f"{_file_stem(article_id)}.txt"
        for i, para in enumerate(article.get("paragraphs", [])):
            if documents == "paragraph":
                pid = str(para.get("id") or f"{article_id}_{i}")
                name, offset = f"{pid}.txt", 0
                corpus[name] = para["context"]
            for qa in para.get("qas", []):
                answers = [x for x in qa.get("answers", []) if x.get("text")]
                golds = tuple(dict.fromkeys(x["text"] for x in answers))
                if qa.get("is_impossible") or not golds:
                    questions.append(Question(qa["id"], qa["question"], None, (), group=article_id))
                else:
                    starts = tuple(dict.fromkeys(offset + int(x["answer_start"]) for x in answers
                                                 if isinstance(x.get("answer_start"), int)))
                    questions.append(Question(qa["id"], qa["question"], name, golds, starts, article_id))
            if documents == "article":
                texts.append(para["context"])
                offset += len(para["context"]) + 2
        if documents == "article":
            corpus[name] = "\n\n".join(texts)
    return questions, corpus


def _file_stem(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)[:80] or "article"


def write_corpus(corpus: dict[str, str], folder: Path) -> None:
    """Write the SQuAD paragraphs as files, touching only those that changed."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in corpus.items():
        path = folder / name
        data = text.encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    for stale in folder.glob("*.txt"):
        if stale.name not in corpus:
            stale.unlink()


def _relevant(hit_source: str, hit_text: str, q: Question, span: tuple[int, int] | None = None) -> bool:
    """The hit is the question's document and holds the answer: at one of its recorded starts
    when the hit's ``span`` is known and the set records them (a whole article repeats words),
    else as text."""
    if q.doc is None or hit_source != q.doc:
        return False
    if span is not None and q.starts:
        return any(span[0] <= s < span[1] for s in q.starts)
    text = normalise(hit_text)
    return any(normalise(a) in text for a in q.answers)


def score_retrieval(ranked: list[list[tuple]], questions: list[Question], k: int,
                    relevant_counts: list[int]) -> dict:
    """recall@1/5/10, MRR@k and nDCG@k over the answerable questions.

    ``ranked[i]`` is the (source, text[, (start, end)]) of each hit for question i, best first;
    ``relevant_counts[i]`` how many passages of the index are relevant to it (for ideal DCG).
    """
    cut_offs = sorted({1, 5, 10, k})
    recall = {c: 0 for c in cut_offs}
    mrr = ndcg = 0.0
    n = 0
    for hits, q, n_rel in zip(ranked, questions, relevant_counts):
        if q.doc is None:
            continue
        n += 1
        rel = [_relevant(*hit, q=q) if len(hit) == 2 else _relevant(hit[0], hit[1], q, hit[2]) for hit in hits[:k]]
        first = next((i for i, r in enumerate(rel) if r), None)
        for c in cut_offs:
            recall[c] += first is not None and first < c
        if first is not None:
            mrr += 1 / (first + 1)
        dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(rel) if r)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(max(n_rel, 1), k)))
        ndcg += dcg / ideal
    n = max(n, 1)
    out = {f"recall@{c}": round(recall[c] / n, 4) for c in cut_offs}
    out[f"mrr@{k}"] = round(mrr / n, 4)
    out[f"ndcg@{k}"] = round(ndcg / n, 4)
    return out


def answer_correct(q: Question, found: bool, answer_text: str) -> bool:
    if q.doc is None:
        return not found
    return found and any(normalise(a) in normalise(answer_text) for a in q.answers)


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(math.ceil(p / 100 * len(ordered))) - 1)], 1)

    return {"p50": round(statistics.median(ordered), 1), "p95": pct(95), "p99": pct(99)}


def evaluate(searcher, questions: list[Question], k: int = 10, answers: bool = True) -> dict:
    """Run every question through search (depth k) and ask; return metrics and failures.
    Questions that are not valid queries (CMRC's trial split has two empty ones) are left out
    of the figures and listed under ``skipped``."""
    from .searcher import clean_query

    skipped, valid = [], []
    for q in questions:
        try:
            clean_query(q.question, searcher.max_query_chars)
            valid.append(q)
        except BadInput as exc:
            skipped.append({"id": q.qid, "question": q.question, "reason": str(exc)})
    questions = valid
    store = searcher.index.store
    ranked: list[list[tuple[str, str]]] = []
    relevant_counts: list[int] = []
    search_ms: list[float] = []
    for q in questions:
        t0 = time.perf_counter()
        result = searcher.search(q.question, k=k)
        search_ms.append((time.perf_counter() - t0) * 1000)
        ranked.append([(h.passage.source, h.passage.text, (h.passage.start, h.passage.end)) for h in result.hits])
        relevant_counts.append(sum(_relevant(sp.passage.source, sp.passage.text, q, (sp.passage.start, sp.passage.end))
                                   for sp in store.passages_of(q.doc)) if q.doc else 0)
    report = {"questions": len(questions), "answerable": sum(q.doc is not None for q in questions),
              "skipped": skipped,
              "retrieval": score_retrieval(ranked, questions, k, relevant_counts),
              "search_ms": _percentiles(search_ms)}
    misses = [{"id": q.qid, "question": q.question, "expected": q.doc, "answer": q.answers[0],
               "top": hits[0][0] if hits else None}
              for q, hits in zip(questions, ranked)
              if q.doc is not None and not any(_relevant(s, t, q, span) for s, t, span in hits[:1])]
    report["retrieval_misses_at_1"] = misses
    if answers:
        report.update(_evaluate_answers(searcher, questions))
    return report


def _evaluate_answers(searcher, questions: list[Question]) -> dict:
    ask_ms: list[float] = []
    right_answered = wrong_answered = refused_answerable = right_refused = wrong_found_unanswerable = 0
    failures = []
    lengths = []
    by_style: dict[str, dict[str, int]] = {}
    for q in questions:
        t0 = time.perf_counter()
        ans = searcher.ask(q.question)
        ask_ms.append((time.perf_counter() - t0) * 1000)
        ok = answer_correct(q, ans.found, ans.answer)
        if q.style:
            row = by_style.setdefault(q.style, {"questions": 0, "right": 0, "wrong": 0, "refused": 0})
            row["questions"] += 1
            row["right"] += ok
            row["wrong"] += ans.found and not ok
            row["refused"] += not ans.found
        if ans.found:
            lengths.append(len(ans.answer))
        if q.doc is None:
            right_refused += ok
            wrong_found_unanswerable += not ok
        elif ans.found:
            right_answered += ok
            wrong_answered += not ok
        else:
            refused_answerable += 1
        if not ok:
            failures.append({"id": q.qid, "question": q.question, "expected": q.answers[0] if q.answers else None,
                             "found": ans.found, "answer": ans.answer, "confidence": round(ans.confidence, 3)})
    answerable = sum(q.doc is not None for q in questions)
    unanswerable = len(questions) - answerable
    return {
        "answers": {
            "accuracy_answerable": round(right_answered / answerable, 4) if answerable else None,
            "refused_unanswerable": round(right_refused / unanswerable, 4) if unanswerable else None,
            "accuracy_all": round((right_answered + right_refused) / len(questions), 4),
            "answered_correctly": right_answered,
            "answered_wrongly": wrong_answered + wrong_found_unanswerable,
            "refused": refused_answerable + right_refused,
            "refused_answerable": refused_answerable,
            "max_answer_chars": max(lengths) if lengths else 0,
        },
        "answers_by_style": dict(sorted(by_style.items())),
        "ask_ms": _percentiles(ask_ms),
        "answer_failures": failures,
    }


def evaluate_file(path: Path, cache_dir: Path, k: int = 10, model: str | None = None, threads: int | None = None,
                  work_dir: Path | None = None, corpus_paths: list[Path] | None = None, progress=None,
                  documents: str = "paragraph") -> dict:
    """Index the file's corpus in a work folder of its own, then evaluate; the live index is never
    written. JSON Lines are asked over ``corpus_paths`` (default ``seeds/``); a SQuAD file's
    paragraphs (or, with ``documents="article"``, its articles) are written out as the corpus. Each
    file gets ``<work_dir>/<file stem>/`` (``<stem>-article/`` for articles; default
    ``<cache_dir>/eval``), reused and updated incrementally by the next run."""
    from wenda.indexer.build import IndexSettings, build_index
    from wenda.indexer.progress import NO_PROGRESS

    from .searcher import Searcher

    kind, questions, corpus = load_questions(path, documents)
    work = (work_dir or cache_dir / "eval") / (path.stem + ("-article" if kind == "squad" and documents == "article" else ""))
    if kind == "squad":
        write_corpus(corpus, work / "corpus")
        corpus_paths = [work / "corpus"]
    else:
        corpus_paths = corpus_paths or [Path("seeds")]
    index_dir = work / "index"
    build_index(corpus_paths, index_dir, IndexSettings(model=model), cache_dir, progress=progress or NO_PROGRESS,
                threads=threads, wait=True)
    searcher = Searcher.open(index_dir, model=model, cache_dir=cache_dir, threads=threads)
    started = time.perf_counter()
    report = {"file": str(path), "kind": kind, "documents": documents, "index_dir": str(index_dir),
              "corpus": [str(p) for p in corpus_paths], "k": k}
    report.update(evaluate(searcher, questions, k=k))
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def format_report(report: dict) -> str:
    r = report["retrieval"]
    lines = [f"{report['file']}: {report['questions']} questions ({report['answerable']} answerable)",
             "retrieval  " + "  ".join(f"{name} {value:.3f}" for name, value in r.items()),
             f"search     p50 {report['search_ms'].get('p50')} ms  p95 {report['search_ms'].get('p95')} ms  "
             f"p99 {report['search_ms'].get('p99')} ms"]
    a = report.get("answers")
    if a:
        acc = a["accuracy_answerable"]
        ref = a["refused_unanswerable"]
        lines.append(f"answers    accuracy {acc if acc is None else f'{acc:.3f}'} on answerable, "
                     f"refused {ref if ref is None else f'{ref:.3f}'} of unanswerable "
                     f"({a['answered_correctly']} right, {a['answered_wrongly']} wrong, {a['refused']} refused)")
        for style, row in (report.get("answers_by_style") or {}).items():
            lines.append(f"  {style:<14} {row['right']} right, {row['wrong']} wrong, {row['refused']} refused "
                         f"of {row['questions']}")
        lines.append(f"ask        p50 {report['ask_ms'].get('p50')} ms  p95 {report['ask_ms'].get('p95')} ms  "
                     f"p99 {report['ask_ms'].get('p99')} ms")
    misses = report.get("retrieval_misses_at_1") or []
    if misses:
        lines.append(f"missed at rank 1 ({len(misses)}): " + "; ".join(m["question"] for m in misses[:10]))
    return "\n".join(lines)
