"""The same workload under an older commit's whole tree and under this one: the before/after rows
of bench/results.md for issue 19 (disk, store build, cold start, search, embedding).

The old tree is a `git worktree` of that commit in bench/tmp/tree-<commit> (the old code imports its
own top-level packages and finds ../shared through bench/tmp/shared, a link to this checkout's
../shared). Its indexes are built by its own bench/synth.py and bench/common.py into its own
bench/tmp, once, and reused like this tree's (bench/synth.py); the store build time is each build's
own record (done.json), written when it was built.

    python bench/baseline.py [--commit 0779d05] [--sizes 100000,1000000]    # only these rows, printed
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import BENCH, ROOT, WORK

PY = sys.executable
COMMIT = "0779d05"      # main when issue 19 was filed: bench/results.md of 2026-11-24 (make bench, 10^3-10^6)


def tree(commit: str = COMMIT) -> Path:
    """A worktree of ``commit`` that can run its own benchmarks."""
    path = WORK / f"tree-{commit}"
    if not (path / "bench").is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT, check=True,
                       capture_output=True)
    shared = WORK / "shared"                # the old bench/common.py looks for ROOT.parent / "shared"
    if not shared.exists():
        shared.symlink_to(ROOT.parent / "shared")
    return path


def _run(code: Path, script: list[str], env: dict | None = None) -> str:
    """Run a script of ``code``'s bench folder (this tree's when ``code`` is ROOT) with its own packages."""
    env = {**os.environ, **(env or {})}
    env.pop("WENDA_CODE_ROOT", None)
    return subprocess.run([PY, *script], cwd=code / "bench", env=env, check=True, capture_output=True,
                          text=True).stdout


def synthetic_index(code: Path, n: int) -> Path:
    """The random-vector index of ``n`` synthetic passages as ``code`` builds it (cached in its bench/tmp);
    an older tree's corpus is built by corpus_apart.py, its text generated outside the timed store build."""
    if code != ROOT:
        _run(code, [str(BENCH / "corpus_apart.py"), str(n)])
    out = _run(code, ["synth.py", str(n)]).strip().splitlines()[-1]
    return Path(out.split()[0])


def seeds_index(code: Path) -> Path:
    """The seeds indexed by ``code``'s own `wenda index` (cached in its bench/tmp)."""
    if code == ROOT:
        return Path(_run(code, ["-c", "from common import seeds_index; print(seeds_index())"]).strip().splitlines()[-1])
    path = code / "bench" / "tmp" / "seeds-index"
    if not (path / "CURRENT").exists():
        _run(code, ["-c", "import sys; sys.path.insert(0, '..'); from api.cli import main; sys.exit(main())",
                    "index", str(code / "seeds"), "--index-dir", str(path)])
    return path


def worker(code: Path, index: Path, n_search: int, n_ask: int, offset: int) -> dict:
    out = _run(code, ["scale_worker.py", str(index), "--search", str(n_search), "--ask", str(n_ask),
                      "--offset", str(offset)], {"WENDA_T0": repr(time.time())})
    return json.loads(out.strip().splitlines()[-1])


def cold_starts(code: Path, index: Path, runs: int = 3) -> list[float]:
    return sorted(worker(code, index, 0, 0, 0)["cold_start_s"] for _ in range(runs))


def disk_bytes(index: Path) -> int:
    gen = index / (index / "CURRENT").read_text().strip()
    return sum(p.stat().st_size for p in gen.iterdir() if p.is_file())


def build_seconds(index: Path) -> tuple[float | None, float | None]:
    """(store build s, text generation s) as recorded with the corpus the index was made from."""
    corpus = index.parent / index.name.split("-random")[0]
    done = json.loads((corpus / "done.json").read_text()) if (corpus / "done.json").exists() else {}
    return done.get("seconds"), done.get("generation_s")


def embedding(code: Path) -> dict:
    """Passages/s of each stage, embedding included, as bench/stages.py of ``code`` measures them."""
    script = ("import json, stages; from common import cache_dir; "
              "from {pkg}.embed import Embedder; "
              "print(json.dumps(stages.measure(Embedder.load(None, cache_dir()), 96)))")
    pkg = "wenda.indexer" if code == ROOT else "indexer"
    return json.loads(_run(code, ["-c", script.format(pkg=pkg)]).strip().splitlines()[-1])


def compare(sizes: list[int], n_search: int, n_ask: int, commit: str = COMMIT) -> dict:
    """Rows for the old tree and this one: the seeds' cold start, then each size; each pair back to back."""
    old = tree(commit)
    codes = ((f"{commit} (before)", old), ("now", ROOT))
    rows = []
    for label, code in codes:
        index = seeds_index(code)
        colds = cold_starts(code, index)
        rows.append({"code": label, "passages": "seeds", "cold_start_s": colds, "disk_bytes": disk_bytes(index)})
        print(label, "seeds", colds, flush=True)
    for n in sizes:
        for label, code in codes:
            index = synthetic_index(code, n)
            row = worker(code, index, n_search, n_ask, 900)
            colds = cold_starts(code, index)
            build_s, generation_s = build_seconds(index)
            row.update(code=label, passages=n, disk_bytes=disk_bytes(index), build_s=build_s,
                       generation_s=generation_s, cold_start_s=colds, load_1min=round(os.getloadavg()[0], 2))
            rows.append(row)
            print(label, n, json.dumps(row), flush=True)
    stages = {label: embedding(code) for label, code in codes}
    return {"commit": commit, "rows": rows, "stages": stages}


def markdown(b: dict) -> list[str]:
    """The before/after section of bench/results.md."""
    rows = b["rows"]
    before = {r["passages"]: r for r in rows if r["code"] != "now"}
    out = ["\n## Before and after issue 19 (one run, back to back)\n",
           f"Each pair of rows ran in this run, one after the other: the whole tree of {b['commit']} (main when "
           "issue 19 was filed, the code of the 2026-11-24 results) and this tree, each over the index its own "
           "code builds (bench/baseline.py). Cold start: process start to the first answer, model cached, 3 runs "
           "(all shown). Store build: the synthetic corpus written through that code's store functions "
           "(bench/synth.py), with its text generated beforehand and not counted (the generation's seconds "
           "in brackets; bench/corpus_apart.py does the same for the old tree; before 2026-12-02 these rows "
           "counted the generation too). Ratio = now / before.\n",
           "| passages | code | index on disk B/passage | store build s | cold start s | search p50 / p99 ms | "
           "ask p50 ms | search, cached query vector, p50 / p99 ms | peak RSS MB | load |",
           "|---|---|---|---|---|---|---|---|---|---|"]

    def ratio(new, old):
        return f" ({new / old:.2f}x)" if new is not None and old else ""

    for r in rows:
        n = r["passages"]
        old = before.get(n) if r["code"] == "now" else None
        per = r["disk_bytes"] / n if isinstance(n, int) else None
        disk = f"{per:,.0f}" if per else f"{r['disk_bytes'] / 2**20:.1f} MB"
        if old and per:
            disk += ratio(per, old["disk_bytes"] / n)
        cold = ", ".join(map(str, r["cold_start_s"]))
        if old:
            cold += ratio(statistics.median(r["cold_start_s"]), statistics.median(old["cold_start_s"]))
        if "search_ms" not in r:
            out.append(f"| {n} | {r['code']} | {disk} | | {cold} | | | | | |")
            continue
        s, c = r["search_ms"], r["search_cached_ms"]
        build = f"{r['build_s']}" + (ratio(r["build_s"], old.get("build_s")) if old else "") if r.get("build_s") else ""
        if r.get("generation_s") is not None:
            build += f" [{r['generation_s']}]"
        search = f"{s['p50']} / {s['p99']}" + (f" ({s['p50'] / old['search_ms']['p50']:.2f}x / "
                                               f"{s['p99'] / old['search_ms']['p99']:.2f}x)" if old else "")
        out.append(f"| {n:,} | {r['code']} | {disk} | {build} | {cold} | {search} | {r['ask_ms']['p50']} | "
                   f"{c['p50']} / {c['p99']} | {r['peak_rss_mb']} | {r['load_1min']} |")
    out += ["\nIndexing stages, passages/s (bench/stages.py of each tree, the same 96 passages embedded):\n",
            "| code | " + " | ".join(next(iter(b["stages"].values()))["passages_per_s"]) + " |",
            "|---|" + "---|" * len(next(iter(b["stages"].values()))["passages_per_s"])]
    for label, st in b["stages"].items():
        out.append(f"| {label} | " + " | ".join(str(v) for v in st["passages_per_s"].values()) + " |")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", default=COMMIT)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--search", type=int, default=200)
    ap.add_argument("--ask", type=int, default=100)
    args = ap.parse_args()
    result = compare([int(s) for s in args.sizes.split(",") if s], args.search, args.ask, args.commit)
    (WORK / "baseline.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print("\n".join(markdown(result)))
    print(f"(rows also in {WORK / 'baseline.json'}; {BENCH / 'scale.py'} puts them in bench/results.md)")
