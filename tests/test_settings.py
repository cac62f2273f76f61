"""Settings are validated at start-up: a bad value stops every command with one line naming the
variable and exit 2. A configured LLM endpoint is used only when asked for (--llm, "llm": true)."""
from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wenda.api.server import create_app
from wenda.api.settings import ENV_VARS, Settings
from wenda.indexer.errors import BadInput

QUESTION = "普陀区有多少个5G室外基站？"


def closed_port_url() -> str:
    """An http URL where nothing listens: an LLM call to it fails at once (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


# -- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "says"), [
    ({"WENDA_MAX_K": "0"}, "WENDA_MAX_K must be at least 1, not '0'"),
    ({"WENDA_MAX_QUERY_CHARS": "-5"}, "WENDA_MAX_QUERY_CHARS must be at least 1"),
    ({"WENDA_REQUEST_TIMEOUT": "-1"}, "WENDA_REQUEST_TIMEOUT must be more than 0, not '-1'"),
    ({"WENDA_LLM_TIMEOUT": "0"}, "WENDA_LLM_TIMEOUT must be more than 0"),
    ({"WENDA_RELOAD_CHECK": "inf"}, "WENDA_RELOAD_CHECK must be a finite number"),
    ({"WENDA_REQUEST_TIMEOUT": "soon"}, "WENDA_REQUEST_TIMEOUT must be a number, not 'soon'"),
    ({"WENDA_MAX_K": "ten"}, "WENDA_MAX_K must be a whole number, not 'ten'"),
    ({"WENDA_PORT": "70000"}, "WENDA_PORT must be at most 65535"),
    ({"WENDA_PORT": "0"}, "WENDA_PORT must be at least 1"),
    ({"WENDA_THREADS": "0"}, "WENDA_THREADS must be at least 1"),
    ({"WENDA_MAX_BODY_BYTES": "10"}, "WENDA_MAX_BODY_BYTES must be at least 1024"),
    ({"WENDA_LLM_BASE_URL": "localhost:11434/v1"}, "WENDA_LLM_BASE_URL must be an http:// or https:// URL"),
    ({"WENDA_LLM_BASE_URL": "http://127.0.0.1:99999/v1"}, "WENDA_LLM_BASE_URL must be an http:// or https:// URL"),
    ({"WENDA_CORS_ORIGINS": "https://ok.example, ftp://files.example"}, "WENDA_CORS_ORIGINS must list origins"),
    ({"WENDA_EMBED_PRECISION": "int4"}, "WENDA_EMBED_PRECISION must be one of auto, float32, bfloat16"),
])
def test_a_bad_value_is_one_line_naming_the_variable(env, says):
    with pytest.raises(BadInput) as raised:
        Settings.from_env(env)
    message = str(raised.value)
    assert message.startswith(says) and "\n" not in message, message


def test_every_problem_is_reported_at_once():
    with pytest.raises(BadInput) as raised:
        Settings.from_env({"WENDA_MAX_K": "0", "WENDA_PORT": "x"})
    assert "WENDA_MAX_K" in str(raised.value) and "WENDA_PORT" in str(raised.value)


def test_good_values_are_read_and_empty_ones_are_unset(tmp_path):
    settings = Settings.from_env({
        "WENDA_MAX_K": "7", "WENDA_REQUEST_TIMEOUT": "2.5", "WENDA_PORT": "8123", "WENDA_INDEX": str(tmp_path),
        "WENDA_CORS_ORIGINS": "https://a.example, http://localhost:3000", "WENDA_LLM_BASE_URL": "http://127.0.0.1:11434/v1",
        "WENDA_EMBED_PRECISION": "BFloat16", "WENDA_API_KEY": "", "WENDA_THREADS": " ", "NO_COLOR": "1"})
    assert (settings.max_k, settings.request_timeout_s, settings.port) == (7, 2.5, 8123)
    assert settings.index_dir == tmp_path and isinstance(settings.index_dir, Path)
    assert settings.cors_origins == ("https://a.example", "http://localhost:3000")
    assert settings.llm_base_url == "http://127.0.0.1:11434/v1" and settings.embed_precision == "bfloat16"
    assert settings.api_key is None and settings.threads is None and settings.no_color is True
    assert Settings.from_env({}) == Settings(cache_dir=Settings.from_env({}).cache_dir)


def test_flags_and_copies_are_validated_too():
    with pytest.raises(BadInput, match="^--port must be at least 1, not 0$"):
        Settings.from_env({}).with_flags(port=0)
    with pytest.raises(ValueError, match="max_k"):
        replace(Settings(), max_k=0)


def test_every_setting_but_three_has_its_variable():
    from dataclasses import fields

    assert {f.name for f in fields(Settings)} - set(ENV_VARS) == {"corpus_paths", "cache_dir", "no_color"}


@pytest.mark.parametrize("args", [["index"], ["search", "区"], ["ask", "区"], ["serve"], ["mcp"],
                                  ["eval", "questions.jsonl"], ["info"]], ids=lambda a: a[0])
@pytest.mark.parametrize("env", [{"WENDA_MAX_K": "0"}, {"WENDA_REQUEST_TIMEOUT": "-3"}, {"WENDA_THREADS": "many"}],
                         ids=["max_k", "timeout", "threads"])
def test_every_command_stops_with_exit_2(run_wenda, wenda_env, tmp_path, args, env):
    run_env = {**wenda_env, "WENDA_INDEX": str(tmp_path / "index"), **env}
    out = run_wenda([*args], env=run_env, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("wenda: error: " + next(iter(env))), line
    assert out.stdout == "" and not (tmp_path / "index").exists()


# -- the LLM only when asked for -----------------------------------------------------------

def test_cli_ask_uses_the_llm_only_with_the_flag(run_wenda, wenda_env, seeds_index):
    env = {**wenda_env, "WENDA_INDEX": str(seeds_index), "WENDA_LLM_BASE_URL": closed_port_url(),
           "WENDA_LLM_MODEL": "any-model"}
    plain = run_wenda(["ask", QUESTION, "--json"], env=env)
    assert plain.returncode == 0, plain.stderr
    answer = json.loads(plain.stdout)
    assert answer["mode"] == "extractive" and "note" not in answer and "LLM" not in plain.stderr
    assert answer["found"] is True and "2694" in answer["answer"]

    asked = run_wenda(["ask", QUESTION, "--json", "--llm"], env=env)
    assert asked.returncode == 0, asked.stderr
    assert "LLM" in json.loads(asked.stdout)["note"]        # it tried the (closed) endpoint


def test_http_ask_uses_the_llm_only_when_the_body_says_so(seeds_index, cache_dir, searcher):
    settings = Settings(index_dir=seeds_index, cache_dir=cache_dir, request_timeout_s=300.0,
                        llm_base_url=closed_port_url(), llm_model="any-model")
    with TestClient(create_app(settings, searcher=searcher), base_url="http://127.0.0.1") as client:
        plain = client.post("/api/ask", json={"question": QUESTION}).json()
        assert plain["mode"] == "extractive" and not plain.get("note") and plain["citations"]
        asked = client.post("/api/ask", json={"question": QUESTION, "llm": True}).json()
        assert "LLM" in asked["note"]
