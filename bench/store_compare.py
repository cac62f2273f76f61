"""Before/after of the lean store in one run: the same synthetic corpus stored and indexed by
another checkout's code (BEFORE, a folder holding a ``wenda`` package, see bench/store.md) and by
this checkout's, then search/ask latency, cold start and bench/identical.py on both.

    python bench/store_compare.py BEFORE [--n 100000] [--search 200] [--ask 100]

Writes bench/tmp/store-compare-N.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import BENCH, WORK, machine

import identical

PY = sys.executable


def run(args: list[str], code: str | None) -> dict:
    env = {**os.environ, "WENDA_T0": repr(time.time())}
    env.pop("WENDA_CODE_ROOT", None)
    if code:
        env["WENDA_CODE_ROOT"] = code
    out = subprocess.run([PY, *args], env=env, cwd=BENCH, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", help="folder with the old code's wenda package")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--search", type=int, default=200)
    ap.add_argument("--ask", type=int, default=100)
    ap.add_argument("--queries", type=int, default=200, help="identical.py queries")
    args = ap.parse_args()
    started = time.time()
    res: dict = {"n": args.n, "load_1min_start": round(os.getloadavg()[0], 2), "sides": {}}
    for label, code in (("before", args.before), ("after", None)):
        folder = WORK / f"store-compare-{args.n}-{label}"
        shutil.rmtree(folder, ignore_errors=True)
        print(label, "store + index", flush=True)
        side = run(["store.py", "synth", str(args.n), "--index", str(folder)], code)
        index = side["index"]
        print(label, "latency", flush=True)
        side["worker"] = run(["scale_worker.py", index, "--search", str(args.search), "--ask", str(args.ask),
                              "--offset", "600"], code)
        side["cold_start_s"] = [side["worker"]["cold_start_s"]] + [
            run(["scale_worker.py", index, "--search", "0", "--ask", "0"], code)["cold_start_s"] for _ in range(2)]
        dump = folder / "identical.jsonl"
        print(label, "identical dump", flush=True)
        run(["identical.py", "dump", index, str(dump), "--queries", str(args.queries)], code)
        side["dump"] = str(dump)
        res["sides"][label] = side
        print(label, json.dumps(side), flush=True)
    res["identical"] = identical.compare(Path(res["sides"]["before"]["dump"]), Path(res["sides"]["after"]["dump"]))
    res["load_1min_end"] = round(os.getloadavg()[0], 2)
    res["minutes"] = round((time.time() - started) / 60, 1)
    res["machine"] = machine()
    res["command"] = " ".join(["python", "bench/store_compare.py", *sys.argv[1:]])
    out = WORK / f"store-compare-{args.n}.json"
    out.write_text(json.dumps(res, ensure_ascii=False, indent=1))
    print(json.dumps(res["identical"]))


if __name__ == "__main__":
    main()
