"""Shared by the benchmark scripts: where work files go, what machine ran, how results are written."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / "tmp"            # git-ignored: built indexes, generated corpora
EVAL = ROOT.parent / "shared" / "eval"
sys.path.insert(0, str(ROOT))


def eval_file(name: str) -> Path:
    """The public evaluation sets: ../shared/eval, or WENDA_EVAL_DIR."""
    base = Path(os.environ.get("WENDA_EVAL_DIR", EVAL))
    return base / name


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
