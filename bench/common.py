"""Shared by the benchmark scripts: where work files go, what machine ran, how results are written."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / "tmp"            # git-ignored: built indexes, generated corpora
DATA = BENCH / "data"            # the evaluation sets whose licence lets us redistribute them (data/README.md)
EVAL = ROOT.parent / "shared" / "eval"
sys.path.insert(0, str(ROOT))

# Where to get the sets that are not vendored in bench/data/.
_HOW_TO_GET = {
    "seeds_qa.jsonl": "the project's question set over seeds/, kept beside the repository in ../shared/eval/",
    "seeds_styles.jsonl": "the project's question set over seeds/, kept beside the repository in ../shared/eval/",
    "drcd_test.json": "DRCD test split, https://github.com/DRCKnowledgeTeam/DRCD (CC BY-SA 3.0)",
    "squad2zh_dev_public.json": "https://github.com/pluto-junzeng/ChineseSquad (research use only, never vendored)",
}


def _eval_dirs() -> list[Path]:
    dirs = [Path(os.environ["WENDA_EVAL_DIR"])] if os.environ.get("WENDA_EVAL_DIR") else []
    return dirs + [DATA, EVAL]


def find_eval_file(name: str) -> Path | None:
    """An evaluation set: WENDA_EVAL_DIR, else bench/data/ (vendored), else ../shared/eval/."""
    return next((d / name for d in _eval_dirs() if (d / name).is_file()), None)


def missing_eval_file(name: str) -> str:
    """One line: which set is missing, where it was looked for, and how to get it."""
    where = ", ".join(str(d) for d in _eval_dirs())
    source = _HOW_TO_GET.get(name, "the file of that name")
    return (f"bench: {name} is missing (looked in {where}); get {source} "
            "and put it in one of them, or set WENDA_EVAL_DIR to its folder")


def eval_file(name: str) -> Path:
    """An evaluation set the benchmark cannot run without: stops with one line when it is absent."""
    path = find_eval_file(name)
    if path is None:
        raise SystemExit(missing_eval_file(name))
    return path


def optional_questions(name: str) -> list[str]:
    """The questions of a JSON Lines set used only as extra query text; [] with a note when absent."""
    path = find_eval_file(name)
    if path is None:
        print(missing_eval_file(name) + "; going on without its questions", file=sys.stderr)
        return []
    return [json.loads(line)["question"] for line in path.read_text("utf-8").splitlines() if line.strip()]


def cache_dir() -> Path:
    from wenda.api.settings import Settings

    return Settings.from_env().cache_dir


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def command() -> str:
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {}

    def pct(p: float) -> float:
        idx = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return round(ordered[idx], 2)

    return {"n": len(ordered), "p50": round(statistics.median(ordered), 2), "p95": pct(95), "p99": pct(99),
            "mean": round(statistics.fmean(ordered), 2)}


def write_results(name: str, title: str, body_md: str, data: dict) -> None:
    """bench/<name>.md (human) and bench/<name>.json (machine), both with command and machine."""
    info = {"command": command(), "machine": machine()}
    m = info["machine"]
    header = (f"# {title}\n\nCommand: `{info['command']}`  \nMachine: {m['cpu']}, {m['cores']} cores, "
              f"Python {m['python']}  \nDate: {m['date']}\n\n")
    (BENCH / f"{name}.md").write_text(header + body_md.rstrip() + "\n", encoding="utf-8")
    (BENCH / f"{name}.json").write_text(json.dumps({**info, **data}, ensure_ascii=False, indent=2) + "\n",
                                        encoding="utf-8")
    print(f"wrote bench/{name}.md and bench/{name}.json")


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Terminate a server the benchmark started; kill it when it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def seeds_index() -> Path:
    """bench/tmp/seeds-index: the seeds indexed by `wenda index` (built once, reused)."""
    path = WORK / "seeds-index"
    if not (path / "CURRENT").exists():
        subprocess.run([str(Path(sys.executable).parent / "wenda"), "index", str(ROOT / "seeds"), "--index-dir", str(path)],
                       check=True, capture_output=True)
    return path
