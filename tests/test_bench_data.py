"""`make bench` from a fresh clone (no ../shared/ beside it): the vendored CMRC 2018 trial set is
found in bench/data/, and a set that is not vendored is reported in one line, not a traceback."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def clone(tmp_path) -> Path:
    """bench/ as a fresh clone has it, with nothing beside the clone."""
    dest = tmp_path / "clone"
    shutil.copytree(ROOT / "bench", dest / "bench", ignore=shutil.ignore_patterns("tmp", "__pycache__"))
    return dest


def _python(clone: Path, code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "WENDA_EVAL_DIR"}
    return subprocess.run([sys.executable, "-c", code], cwd=clone / "bench", env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_cmrc_trial_set_is_vendored_with_its_licence():
    data = json.loads((ROOT / "bench" / "data" / "cmrc2018_trial.json").read_text("utf-8"))
    assert sum(len(p["qas"]) for a in data["data"] for p in a["paragraphs"]) == 1002
    readme = (ROOT / "bench" / "data" / "README.md").read_text("utf-8")
    assert "CC BY-SA 4.0" in readme and "ymcui/cmrc2018" in readme
    assert not (ROOT / "bench" / "data" / "squad2zh_dev_public.json").exists()


def test_a_fresh_clone_reads_cmrc_from_bench_data(clone):
    done = _python(clone, "import scale_worker, common; print(common.eval_file('cmrc2018_trial.json')); "
                          "print(len(scale_worker.questions()))")
    assert done.returncode == 0, done.stderr
    path, count = done.stdout.split()
    assert Path(path) == clone / "bench" / "data" / "cmrc2018_trial.json"
    assert int(count) > 900                      # the CMRC questions, without the seeds' ones
    assert "seeds_qa.jsonl is missing" in done.stderr and "Traceback" not in done.stderr


def test_a_set_that_is_not_vendored_stops_with_one_line_saying_how_to_get_it(clone):
    done = _python(clone, "import common; common.eval_file('squad2zh_dev_public.json')")
    assert done.returncode == 1
    err = done.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "squad2zh_dev_public.json is missing" in err and "pluto-junzeng/ChineseSquad" in err
