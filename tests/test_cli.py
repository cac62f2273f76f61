"""The command line: help for every command, exit codes, one-line errors."""
from __future__ import annotations

import json
import subprocess

import pytest

COMMANDS = ["index", "search", "ask", "serve", "mcp", "eval", "info"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(wenda_cli, wenda_env, command):
    # The installed script itself, exec'd (the other CLI tests fork from a warm process).
    out = subprocess.run([*wenda_cli, command, "--help"], env=wenda_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage: wenda " + command in out.stdout


def test_errors_are_one_line_with_the_right_exit_status(run_wenda, wenda_env, tmp_path, seeds_index):
    cases = [
        (["search", "", "--index-dir", str(seeds_index)], 2, "empty"),
        (["search", "上海", "-k", "0", "--index-dir", str(seeds_index)], 2, "k must"),
        (["index", str(tmp_path / "missing"), "--index-dir", str(tmp_path / "i")], 2, "does not exist"),
        (["info", "--index-dir", str(tmp_path / "none")], 1, "no index"),
        (["search", "--queries", str(tmp_path / "nofile"), "--json", "--index-dir", str(seeds_index)], 2,
         "no such file"),
        (["bogus"], 2, "invalid choice"),
    ]
    for args, code, message in cases:
        out = run_wenda([*args], env=wenda_env)
        assert out.returncode == code, (args, out.stderr)
        assert message in out.stderr and "Traceback" not in out.stderr


def test_ask_json_has_the_contract_shape(run_wenda, wenda_env, seeds_index):
    out = run_wenda(["ask", "静安区的数据智能企业数量有多少？", "--json", "--index-dir",
                          str(seeds_index)], env=wenda_env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"question", "found", "answer", "citations", "passages", "took_ms"} <= set(data)
    assert data["found"] and "1700" in data["answer"]
    assert "1700" in data["answer_span"]["text"] and data["answer_span"]["text"] in data["answer"]
