"""The `wenda` command line. Thin: parse flags into Settings, call indexer/ and search/, render.

Exit status: 0 ok, 2 bad usage or bad input, 1 anything else. Errors are one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from wenda.indexer.version import VERSION
from wenda.indexer.errors import BadInput, WendaError

from .service import open_searcher
from .settings import Settings

log = logging.getLogger("wenda")


# -- helpers ---------------------------------------------------------------------------------

def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _style(settings: Settings):
    from .render import Style

    return Style(sys.stdout.isatty() and not settings.no_color)


def _index_settings(settings: Settings, args: argparse.Namespace):
    from wenda.indexer.build import IndexSettings

    overrides = {}
    if getattr(args, "max_file_mb", None) is not None:
        if args.max_file_mb <= 0:
            raise BadInput("--max-file-mb must be positive")
        overrides["max_file_bytes"] = int(args.max_file_mb * 2**20)
    return IndexSettings(model=settings.model, user_dict=settings.user_dict,
                         embed_precision=settings.embed_precision, **overrides)


# -- commands --------------------------------------------------------------------------------

def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from wenda.indexer.progress import NO_PROGRESS, terminal_progress

    from .service import corpus_of, run_build, where_indexed

    if args.verify:
        if settings.backend == "milvus":
            raise BadInput("--verify reads a local index folder; Milvus checks its own data")
        return _verify_index(args, settings)

    # no PATH: the corpus this index was built from (the seeds only for a brand-new index)
    from_index = Path(args.from_index) if args.from_index else None
    paths = [] if from_index else corpus_of(settings, [Path(p) for p in args.paths])
    progress = terminal_progress(sys.stderr) if sys.stderr.isatty() and not args.json else NO_PROGRESS
    report = run_build(settings, paths, rebuild=args.rebuild, progress=progress, wait=args.wait,
                       index_settings=_index_settings(settings, args), from_index=from_index,
                       crash_at_step=settings.fault_step)
    where = where_indexed(settings)
    if args.json:
        _print_json(report.as_dict())
        return 0
    if report.up_to_date:
        print(f"{where} is up to date: {report.documents} documents, {report.passages} passages")
    else:
        print(f"indexed {report.documents} documents, {report.passages} passages into {where} "
              f"in {report.seconds:.1f} s ({len(report.added)} added, {len(report.changed)} changed, "
              f"{len(report.deleted)} deleted, {report.unchanged} unchanged; {report.embedded} passages embedded)")
    counts = format_counts(report)
    if counts:
        print(counts)
    return 0


def _verify_index(args: argparse.Namespace, settings: Settings) -> int:
    from wenda.indexer.manifest import verify_index

    checked = verify_index(settings.index_dir)      # IndexCorrupt (exit 1) names the file and the repair
    if args.json:
        _print_json(checked)
    else:
        print(f"{settings.index_dir}: build {checked['generation']} verified, {len(checked['files'])} files, "
              f"{checked['bytes'] / 2**20:.1f} MB read")
    return 0


def format_counts(report) -> str:
    """``formats   pdf 3, docx 1, text 5`` and one line per skipped file with its reason."""
    lines = []
    if report.formats:
        lines.append("formats   " + ", ".join(f"{kind} {n}" for kind, n in report.formats.items()))
    if report.skipped:
        lines.append(f"skipped   {len(report.skipped)} file{'s' if len(report.skipped) != 1 else ''}:")
        lines.extend(f"  {s['source']}: {s['reason']}" for s in report.skipped)
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace, settings: Settings) -> int:
    if settings.backend == "milvus":
        from wenda.search.milvus_index import milvus_info

        info = milvus_info(settings.milvus_target())
    else:
        from wenda.search.info import index_info

        info = index_info(settings.index_dir)
    if args.json:
        _print_json(info)
        return 0
    m = info["model"]
    print(f"index      {info['index_dir']}  (build {info['generation']}, {info['created']})")
    print(f"model      {m['name']}  dim {m['dim']}  fingerprint {m['fingerprint']}")
    print(f"vectors    {info['vector_index']['kind']}  ·  {info['passages']} passages in {info['documents']} documents")
    if "bytes" in info:
        print(f"on disk    {info['bytes'] / 2**20:.1f} MB")
    print(f"chunking   max {info['chunking']['max_chars']} / min {info['chunking']['min_chars']} characters")
    print()
    for d in info["sources"]:
        print(f"  {d['source']:<40} {d['passages']:>5} passages {d['chars']:>8} chars  {d['title']}")
    return 0


def _read_queries(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return [line.rstrip("\r\n") for line in fh if line.strip()]
    except FileNotFoundError:
        raise BadInput(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from wenda.search.searcher import check_k

    if (args.query is None) == (args.queries is None):
        raise BadInput("give a QUERY or --queries FILE (not both)")
    check_k(args.k, settings.max_k)
    if args.queries is not None:
        if not args.json:
            raise BadInput("--queries writes JSON Lines; add --json")
        queries = _read_queries(args.queries)
        searcher = open_searcher(settings)
        for start in range(0, len(queries), 64):
            for result in searcher.search_batch(queries[start:start + 64], k=args.k, doc=args.doc):
                _print_json(result.to_dict())
        return 0
    searcher = open_searcher(settings)
    result = searcher.search(args.query, k=args.k, doc=args.doc)
    if args.json:
        _print_json(result.to_dict())
    else:
        from .render import render_search

        print(render_search(result.query, result.hits, result.took_ms, _style(settings), result.corrected))
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from .ask_command import run_ask

    return run_ask(args, settings, open_searcher(settings), _style(settings))


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from wenda.indexer.manifest import recorded_corpus
    from wenda.indexer.progress import NO_PROGRESS, terminal_progress
    from wenda.search.evaluate import evaluate_file, format_report

    # JSON Lines questions are asked over --corpus, else the live index's corpus (read, never
    # written: eval builds its own index in --work-dir), else the seeds
    corpus = ([Path(p) for p in args.corpus] if args.corpus
              else recorded_corpus(settings.index_dir) or list(settings.corpus_paths))
    report = evaluate_file(Path(args.file), settings.cache_dir, k=args.k, model=settings.model,
                           threads=settings.threads, work_dir=Path(args.work_dir) if args.work_dir else None,
                           corpus_paths=corpus, documents=args.documents,
                           progress=terminal_progress(sys.stderr) if sys.stderr.isatty() else NO_PROGRESS)
    if args.json:
        _print_json(report)
    else:
        print(format_report(report))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .server import serve

    return serve(settings)


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    from .mcp_server import run_stdio

    return run_stdio(settings)


# -- the parser ------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, like every other user mistake
        self.print_usage(sys.stderr)
        self.exit(2, f"wenda: error: {message}\n")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", metavar="DIR", help="index folder (default: index/, env WENDA_INDEX)")
    p.add_argument("--backend", choices=("local", "milvus"),
                   help="where the index is kept: local (the index folder, default) or milvus (env WENDA_BACKEND)")
    p.add_argument("--milvus-uri", metavar="URI",
                   help="milvus-lite data folder (./milvus.db) or Milvus server (http://host:19530); env WENDA_MILVUS_URI")
    p.add_argument("--collection", metavar="NAME", help="Milvus collection (default wenda, env WENDA_MILVUS_COLLECTION)")
    p.add_argument("--model", metavar="NAME_OR_PATH",
                   help="embedding model (default: the bundled multilingual-e5-small, env WENDA_MODEL)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wenda", description="问答 wenda: semantic search and question answering over "
                                                "Chinese articles, with exact citations.")
    parser.add_argument("--version", action="version", version=f"wenda {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("index", help="build or update the index from .txt/.md, .pdf (OCR for scans), "
                                     ".png/.jpg, .docx and .html files",
                       description="Build or update the index. Unchanged files are reused; only new or "
                                   "changed files are chunked and embedded.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or folders to index (default: those the index was built from; seeds/ for a new index)")
    _common(p)
    p.add_argument("--rebuild", action="store_true", help="ignore the previous build and start from scratch")
    p.add_argument("--user-dict", metavar="FILE", help="jieba user dictionary for domain terms")
    p.add_argument("--max-file-mb", type=float, metavar="MB", help="skip files larger than this (default 16)")
    p.add_argument("--wait", action="store_true", help="wait for another running `wenda index` instead of refusing")
    p.add_argument("--from-index", metavar="DIR",
                   help="with --backend milvus: copy the local index in DIR into Milvus, reusing its vectors")
    p.add_argument("--json", action="store_true", help="print the build report as JSON")
    p.add_argument("--verify", action="store_true",
                   help="build nothing: read every file of the live index against its checksums (exit 1 if one "
                        "differs); opening an index checks only sizes and quick fingerprints")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="ranked passages with citations",
                       description="Hybrid (semantic + keyword) search over the index.")
    p.add_argument("query", nargs="?", metavar="QUERY", help="what to look for, in plain Chinese")
    p.add_argument("--queries", metavar="FILE", help="one query per line; JSON Lines out, same order")
    p.add_argument("-k", type=int, default=5, metavar="N", help="number of hits (default 5, at most 50)")
    p.add_argument("--doc", metavar="GLOB", help="only documents whose source matches this glob")
    p.add_argument("--json", action="store_true", help="print JSON")
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="a short answer with citations, or an honest 'not found'",
                       description="Answer a question from the corpus: the sentence(s) that answer it, "
                                   "with citations, or 语料中没有找到答案 when the corpus does not say.")
    p.add_argument("question", metavar="QUESTION")
    p.add_argument("-k", type=int, default=5, metavar="N", help="supporting passages to show (default 5)")
    p.add_argument("--doc", metavar="GLOB", help="only documents whose source matches this glob")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--llm", action="store_true",
                   help="write the answer with an OpenAI-compatible LLM (WENDA_LLM_BASE_URL, WENDA_LLM_MODEL)")
    _common(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="the web page and HTTP API",
                       description="Serve the web page, the JSON API and MCP over HTTP.")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    _common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mcp", help="MCP tool server on stdio, for chat assistants",
                       description="Run the MCP server (search_corpus, ask_corpus, get_passage, "
                                   "list_documents) on stdin/stdout.")
    _common(p)
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("eval", help="retrieval and answer quality on a question set",
                       description="FILE: JSON Lines {question, doc, answer} over the seeds, or a "
                                   "SQuAD-format JSON (each paragraph indexed as one document, or "
                                   "with --documents article each article).")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-k", type=int, default=10, metavar="N", help="depth for recall/MRR/nDCG (default 10)")
    p.add_argument("--work-dir", metavar="DIR",
                   help="where eval builds its own indexes (default: the wenda cache); never the live index")
    p.add_argument("--corpus", nargs="+", metavar="PATH",
                   help="folders JSON Lines questions are asked over (default: the index's corpus, else seeds/)")
    p.add_argument("--documents", choices=("paragraph", "article"), default="paragraph",
                   help="SQuAD files: index each paragraph (default) or each whole article as one document; "
                        "a hit is then right when its span holds the answer's position")
    p.add_argument("--json", action="store_true", help="print JSON")
    _common(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("info", help="what the index holds",
                       description="Documents, passages, model and sizes of the index.")
    p.add_argument("--json", action="store_true", help="print JSON")
    _common(p)
    p.set_defaults(func=cmd_info)
    return parser


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("wenda: %(levelname)s: %(message)s"))
    root = logging.getLogger("wenda")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False
    for noisy in ("sentence_transformers", "transformers", "jieba", "httpx", "faiss"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(encoding="utf-8", errors="replace")
        except (AttributeError, ValueError):
            pass
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    _configure_logging(getattr(args, "verbose", False))
    try:
        settings = Settings.from_env().with_flags(
            index_dir=Path(args.index_dir) if getattr(args, "index_dir", None) else None,
            model=getattr(args, "model", None),
            user_dict=Path(args.user_dict) if getattr(args, "user_dict", None) else None,
            host=getattr(args, "host", None), port=getattr(args, "port", None),
            backend=getattr(args, "backend", None), milvus_uri=getattr(args, "milvus_uri", None),
            milvus_collection=getattr(args, "collection", None))
        return args.func(args, settings) or 0
    except WendaError as exc:
        print(f"wenda: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("wenda: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
