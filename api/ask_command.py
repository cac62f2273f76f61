"""`wenda ask`: the answer, its citations, the passages; the LLM reply streams as it arrives."""
from __future__ import annotations

import argparse
import json
import sys

from wenda.indexer.errors import BadInput

from .render import Style, render_answer
from .settings import Settings


def llm_config(settings: Settings, requested: bool):
    """The LLM endpoint to use, or None: only with ``--llm`` (a configured endpoint alone does not
    turn answers into LLM calls). ``--llm`` without a configured endpoint is a usage error."""
    from wenda.search.llm import LLMConfig

    if not requested:
        return None
    if not settings.llm_base_url or not settings.llm_model:
        raise BadInput("--llm needs WENDA_LLM_BASE_URL and WENDA_LLM_MODEL (an OpenAI-compatible endpoint)")
    return LLMConfig(base_url=settings.llm_base_url, model=settings.llm_model, api_key=settings.llm_api_key,
                     timeout_s=settings.llm_timeout_s, context_tokens=settings.llm_context_tokens)


def run_ask(args: argparse.Namespace, settings: Settings, searcher, style: Style) -> int:
    llm = llm_config(settings, args.llm)
    streamed = []

    def on_text(chunk: str) -> None:
        # Stream the LLM's words to a terminal; the checked answer is printed after it.
        if not args.json and sys.stdout.isatty():
            if not streamed:
                sys.stdout.write(style("LLM: ", "\x1b[2m"))
            streamed.append(chunk)
            sys.stdout.write(style(chunk, "\x1b[2m"))
            sys.stdout.flush()

    answer = searcher.ask(args.question, k=args.k, doc=args.doc, llm=llm, on_text=on_text if llm else None)
    if streamed:
        sys.stdout.write("\n\n")
    if args.json:
        sys.stdout.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")
    else:
        print(render_answer(answer, style))
    return 0
