"""The one place where wenda reads its configuration: environment variables, then command-line
flags on top. Library code (indexer/, search/) receives explicit values and never reads the
environment itself.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


def _default_cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("WENDA_CACHE"):
        return Path(env["WENDA_CACHE"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wenda"


def _int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        from wenda.indexer.errors import BadInput

        raise BadInput(f"{name} must be a whole number, not {raw!r}") from None


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default)."""
    from wenda.indexer.errors import BadInput

    raw = (env.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise BadInput(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        from wenda.indexer.errors import BadInput

        raise BadInput(f"{name} must be a number, not {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    # where things are
    index_dir: Path = Path("index")
    corpus_paths: tuple[Path, ...] = (Path("seeds"),)
    model: str | None = None                # None = the bundled multilingual-e5-small
    cache_dir: Path = field(default_factory=lambda: _default_cache_dir(os.environ))
    user_dict: Path | None = None
    threads: int | None = None              # torch/faiss threads; None = all cores
    embed_precision: str = "auto"           # wenda index: auto (bfloat16 where native), float32, bfloat16
    # the HTTP service
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: tuple[str, ...] = ()      # closed unless configured
    api_key: str | None = None              # when set, /api and /mcp need "Authorization: Bearer <key>"
    max_query_chars: int = 2000             # longer queries get 413 over HTTP, exit 2 on the CLI
    max_k: int = 50                         # k above this is clamped
    max_body_bytes: int = 64 * 1024
    max_upload_bytes: int = 16 * 1024 * 1024    # POST /api/documents: one file, as wenda index's --max-file-mb
    request_timeout_s: float = 15.0
    reload_check_s: float = 2.0             # how often the server looks for a newer index build
    # optional LLM answers (any OpenAI-compatible chat endpoint)
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = 30.0
    llm_context_tokens: int = 3000          # budget for question + passages sent to the LLM
    # testing hook: kill `wenda index` at build step N (crash-safety tests)
    fault_step: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "Settings":
        from wenda.indexer.embed import PRECISIONS

        env = os.environ if env is None else env
        values = dict(
            index_dir=Path(env.get("WENDA_INDEX") or "index"),
            model=env.get("WENDA_MODEL") or None,
            cache_dir=_default_cache_dir(env),
            user_dict=Path(env["WENDA_USER_DICT"]) if env.get("WENDA_USER_DICT") else None,
            threads=_int(env, "WENDA_THREADS", None),
            embed_precision=_choice(env, "WENDA_EMBED_PRECISION", PRECISIONS),
            host=env.get("WENDA_HOST") or "127.0.0.1",
            port=_int(env, "WENDA_PORT", 8000),
            cors_origins=tuple(o.strip() for o in env.get("WENDA_CORS_ORIGINS", "").split(",") if o.strip()),
            api_key=env.get("WENDA_API_KEY") or None,
            max_query_chars=_int(env, "WENDA_MAX_QUERY_CHARS", 2000),
            max_k=_int(env, "WENDA_MAX_K", 50),
            request_timeout_s=_float(env, "WENDA_REQUEST_TIMEOUT", 15.0),
            max_body_bytes=_int(env, "WENDA_MAX_BODY_BYTES", 64 * 1024),
            reload_check_s=_float(env, "WENDA_RELOAD_CHECK", 2.0),
            llm_base_url=env.get("WENDA_LLM_BASE_URL") or None,
            llm_model=env.get("WENDA_LLM_MODEL") or None,
            llm_api_key=env.get("WENDA_LLM_API_KEY") or None,
            llm_timeout_s=_float(env, "WENDA_LLM_TIMEOUT", 30.0),
            llm_context_tokens=_int(env, "WENDA_LLM_CONTEXT_TOKENS", 3000),
            fault_step=_int(env, "WENDA_FAULT_STEP", None),
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_flags(self, **flags) -> "Settings":
        """A copy with the given command-line flags applied (None = flag not given)."""
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in flags.items() if v is not None and k in known})

    def public(self) -> dict:
        """Settings safe to show (no secrets)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("api_key", "llm_api_key"):
                value = "set" if value else None
            out[f.name] = [str(v) for v in value] if isinstance(value, tuple) else (
                str(value) if isinstance(value, Path) else value)
        return out
