"""The one place where wenda reads its configuration: environment variables, then command-line
flags on top. Library code (indexer/, search/) receives explicit values and never reads the
environment itself.

Settings are validated when made (a pydantic dataclass: `dataclasses.replace` validates too), so
`WENDA_MAX_K=0`, a negative timeout or a word where a number belongs stop every command at
start-up with one line naming the variable, instead of zero hits or instant 504s later.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import field, fields, replace
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass

from wenda.indexer.embed import PRECISIONS, QUERY_ENGINES
from wenda.indexer.errors import BadInput


def _default_cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("WENDA_CACHE"):
        return Path(env["WENDA_CACHE"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wenda"


def _one_of(choices: tuple[str, ...]):
    def check(value: str) -> str:
        value = value.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value
    return check


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value.strip())
        parts.port                                  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError("must be an http:// or https:// URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL such as http://127.0.0.1:11434/v1")
    return value.strip()


def _origins(value: tuple[str, ...]) -> tuple[str, ...]:
    for origin in value:
        if origin == "*":
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"must list origins such as https://example.org or http://localhost:3000 (not {origin!r})")
    return value


def _collection(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", value):
        raise ValueError("must be letters, digits and _, starting with a letter or _")
    return value


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value


Count = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Text = Annotated[str | None, AfterValidator(_not_blank)]


@dataclass(frozen=True, config=ConfigDict(extra="forbid", arbitrary_types_allowed=False))
class Settings:
    # where things are
    index_dir: Path = Path("index")
    corpus_paths: tuple[Path, ...] = (Path("seeds"),)
    model: Text = None                      # None = the bundled multilingual-e5-small
    cache_dir: Path = field(default_factory=lambda: _default_cache_dir(os.environ))
    user_dict: Path | None = None
    threads: Annotated[int | None, Field(ge=1, le=4096)] = None   # torch/faiss threads; None = all cores
    embed_precision: Annotated[str, AfterValidator(_one_of(PRECISIONS))] = "auto"  # auto (bfloat16 where native), float32, bfloat16
    query_engine: Annotated[str, AfterValidator(_one_of(QUERY_ENGINES))] = "auto"  # auto (ONNX Runtime where it can), onnx, torch
    no_color: bool = False                  # NO_COLOR set: plain terminal output
    # the HTTP service
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    cors_origins: Annotated[tuple[str, ...], AfterValidator(_origins)] = ()   # closed unless configured
    api_key: Text = None                    # when set, /api and /mcp need "Authorization: Bearer <key>"
    max_query_chars: Count = 2000           # longer queries get 413 over HTTP, exit 2 on the CLI
    max_k: Count = 50                       # k above this is clamped
    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    max_upload_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024   # POST /api/documents: one file
    request_timeout_s: Seconds = 15.0
    reload_check_s: Seconds = 2.0           # how often the server looks for a newer index build
    # optional LLM answers (any OpenAI-compatible chat endpoint), only when asked for (--llm, "llm": true)
    llm_base_url: Annotated[str | None, AfterValidator(_http_url)] = None
    llm_model: Text = None
    llm_api_key: Text = None
    llm_timeout_s: Seconds = 30.0
    llm_context_tokens: Annotated[int, Field(ge=256)] = 3000   # budget for question + passages sent to the LLM
    # where the index is kept: the local folder (index_dir) or a Milvus collection
    backend: Literal["local", "milvus"] = "local"
    milvus_uri: Text = None                 # a milvus-lite data folder (./milvus.db) or http://host:19530
    milvus_collection: Annotated[str, AfterValidator(_collection)] = "wenda"
    milvus_token: Text = None               # user:password or an API key of a Milvus server
    # testing hook: kill `wenda index` at build step N (crash-safety tests)
    fault_step: Annotated[int | None, Field(ge=0)] = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Settings from ``env`` (default: the process environment); a variable set to "" counts as
        unset. A bad value raises BadInput naming the variable."""
        env = os.environ if env is None else env
        values: dict = {name: env[var] for name, var in ENV_VARS.items() if env.get(var, "").strip()}
        if "cors_origins" in values:
            values["cors_origins"] = tuple(o.strip() for o in values["cors_origins"].split(",") if o.strip())
        values["cache_dir"] = _default_cache_dir(env)
        values["no_color"] = bool(env.get("NO_COLOR"))              # https://no-color.org
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            raise BadInput(_describe(exc, lambda name: ENV_VARS.get(name, name))) from None

    def milvus_target(self):
        """The Milvus collection of ``--backend milvus`` (BadInput without a URI)."""
        from wenda.indexer.backends.milvus import Target

        if not self.milvus_uri:
            raise BadInput("--backend milvus needs --milvus-uri URI (or WENDA_MILVUS_URI): a milvus-lite data "
                           "folder such as ./milvus.db, or a server such as http://127.0.0.1:19530")
        uri = self.milvus_uri.strip()
        if not (re.match(r"(https?|tcp|unix)://", uri) or uri.rstrip("/").endswith(".db")):
            raise BadInput(f"--milvus-uri must be a milvus-lite data folder ending in .db (./milvus.db) or a "
                           f"server URL such as http://127.0.0.1:19530, not {uri!r}")
        return Target(uri, self.milvus_collection, self.milvus_token)

    def with_flags(self, **flags) -> "Settings":
        """A copy with the given command-line flags applied (None = flag not given)."""
        known = {f.name for f in fields(self)}
        try:
            return replace(self, **{k: v for k, v in flags.items() if v is not None and k in known})
        except ValidationError as exc:
            raise BadInput(_describe(exc, lambda name: "--" + name.replace("_", "-"))) from None


# The environment variable of each setting (cache_dir and no_color are read above).
ENV_VARS = {
    "index_dir": "WENDA_INDEX", "model": "WENDA_MODEL", "user_dict": "WENDA_USER_DICT",
    "threads": "WENDA_THREADS", "embed_precision": "WENDA_EMBED_PRECISION",
    "query_engine": "WENDA_QUERY_ENGINE",
    "host": "WENDA_HOST", "port": "WENDA_PORT", "cors_origins": "WENDA_CORS_ORIGINS", "api_key": "WENDA_API_KEY",
    "max_query_chars": "WENDA_MAX_QUERY_CHARS", "max_k": "WENDA_MAX_K", "max_body_bytes": "WENDA_MAX_BODY_BYTES",
    "max_upload_bytes": "WENDA_MAX_UPLOAD_BYTES",
    "request_timeout_s": "WENDA_REQUEST_TIMEOUT", "reload_check_s": "WENDA_RELOAD_CHECK",
    "llm_base_url": "WENDA_LLM_BASE_URL", "llm_model": "WENDA_LLM_MODEL", "llm_api_key": "WENDA_LLM_API_KEY",
    "llm_timeout_s": "WENDA_LLM_TIMEOUT", "llm_context_tokens": "WENDA_LLM_CONTEXT_TOKENS",
    "fault_step": "WENDA_FAULT_STEP",
    "backend": "WENDA_BACKEND", "milvus_uri": "WENDA_MILVUS_URI", "milvus_collection": "WENDA_MILVUS_COLLECTION",
    "milvus_token": "WENDA_MILVUS_TOKEN",
}

_RULES = {
    "greater_than_equal": lambda ctx: f"must be at least {ctx['ge']:g}",
    "greater_than": lambda ctx: f"must be more than {ctx['gt']:g}",
    "less_than_equal": lambda ctx: f"must be at most {ctx['le']:g}",
    "too_short": lambda ctx: "must not be empty",
    "string_too_short": lambda ctx: "must not be empty",
    "int_parsing": lambda ctx: "must be a whole number",
    "int_from_float": lambda ctx: "must be a whole number",
    "float_parsing": lambda ctx: "must be a number",
    "finite_number": lambda ctx: "must be a finite number",
    "bool_parsing": lambda ctx: "must be true or false",
    "value_error": lambda ctx: str(ctx.get("error", "is not valid")),
}


def _describe(exc: ValidationError, source) -> str:
    """One line for all the problems: '<VARIABLE> <rule>, not <value>'."""
    problems = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "settings"
        rule = _RULES.get(err["type"])
        text = rule(err.get("ctx") or {}) if rule else err["msg"][0].lower() + err["msg"][1:]
        value = err.get("input")
        shown = f", not {value!r}" if isinstance(value, (str, int, float)) and not name.endswith("api_key") else ""
        problems.append(f"{source(name)} {text}{shown}")
    return "; ".join(dict.fromkeys(problems))
