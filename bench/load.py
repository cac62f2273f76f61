"""Load: a real `wenda serve` on 127.0.0.1 under concurrent clients for a fixed time.

    python bench/load.py [--seconds 60] [--clients 32]

Builds (or reuses) an index of seeds/ in bench/tmp/idx-load, starts `wenda serve` on a free
loopback port, waits for /readyz, then each client sends requests back to back until the time is
up: GET /api/search (70%) or POST /api/ask (30%), with queries drawn from QUERIES. Reports
requests/s, latency percentiles per endpoint, errors (any non-2xx or exception) and the server's
resident memory (VmRSS) at start, during the run and at the end. Writes bench/load.md/.json; exits
1 if any request failed. The server is always stopped (SIGTERM, then SIGKILL).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from common import ROOT, WORK, cache_dir, percentiles, write_results

# Written for this benchmark (not the evaluation questions): districts, AI, 5G, data, companies.
QUERIES = [
    "静安区数智产业的发展格局",
    "市北高新园区有哪些大数据企业",
    "静安区在区块链领域做了什么",
    "苏河湾有什么新的产业布局",
    "第四届上海数字创新大会在哪天开幕？",
    "普陀区开通了多少个5G室外基站？",
    "桃浦智创城的定位是什么",
    "普陀区的数字化转型指数包括哪些方面？",
    "徐汇区元宇宙相关企业有多少家？",
    "漕河泾开发区引进了哪些元宇宙企业",
    "徐汇滨江的人工智能产业集聚",
    "大模型需要海量数据和算力支撑",
    "上海2021年全市GDP是多少？",
    "一网通办是什么",
    "城市数字化转型的三大领域",
    "国际数字之都建设目标",
    "上海数字经济发展面临哪些瓶颈？",
    "5G窗口机遇对上海意味着什么",
    "如何促进信息技术与实体经济深度融合？",
    "集成电路研究平台设在哪里？",
    "数据安全与网络安全基础设施",
    "上海人工智能企业的数量",
    "新质生产力和算力网络",
    "魔方科技做的是什么业务？",
]
# ... and combinations, so that most requests are new to the server's query-vector cache.
DISTRICTS = ["上海", "静安区", "普陀区", "徐汇区", "浦东新区", "杨浦区", "闵行区", "长宁区", "黄浦区", "临港新片区"]
TOPICS = ["人工智能企业", "5G基站", "大数据产业", "元宇宙", "区块链应用", "算力基础设施", "集成电路", "数字化转型",
          "科创园区", "数据交易", "在线新经济", "智能终端"]
FORMS = ["{d}有多少{t}？", "{d}{t}的发展情况", "{d}在{t}方面有哪些代表企业？", "{d}近年来如何布局{t}",
         "{t}在{d}的规模有多大", "{d}{t} 政策 举措"]
QUERIES += [f.format(d=d, t=t) for d in DISTRICTS for t in TOPICS for f in FORMS]
ASK_SHARE = 0.3
SAMPLES = 10                    # RSS samples during the run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (VmRSS), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


@contextlib.contextmanager
def server(cli: list[str], index_dir: Path, env: dict, log_path: Path, ready_timeout: float = 240, start=None):
    """`wenda serve` on a free 127.0.0.1 port until /readyz says 200; yields (process, base URL);
    always stops it afterwards (SIGTERM, SIGKILL after 30 s). ``start(args, env, log_path)``, when
    given, starts it instead of exec'ing ``cli`` (the tests fork it from a warm process) and returns
    what Popen would (poll, wait, send_signal, kill, pid, returncode)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--index-dir", str(index_dir)]
    if start is not None:
        proc = start(args, env, log_path)
    else:
        with log_path.open("wb") as log:
            proc = subprocess.Popen([*cli, *args], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"wenda serve exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"wenda serve not ready in {ready_timeout:g} s:\n{log_path.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/readyz", timeout=5, trust_env=False).status_code == 200:
                    break
            time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def run_load(base: str, clients: int, seconds: float, pid: int | None = None, seed: int = 1) -> dict:
    """``clients`` concurrent clients send requests back to back for ``seconds``; returns the
    counts, latencies (ms) per endpoint, errors and, given the server's ``pid``, RSS samples."""
    latencies: dict[str, list[float]] = {"search": [], "ask": []}
    errors: Counter = Counter()
    rss: list[dict] = []
    t0 = time.monotonic()
    stop_at = t0 + seconds

    async def client(http: httpx.AsyncClient, rng: random.Random) -> None:
        while time.monotonic() < stop_at:
            query = rng.choice(QUERIES)
            kind = "ask" if rng.random() < ASK_SHARE else "search"
            start = time.perf_counter()
            try:
                if kind == "search":
                    r = await http.get("/api/search", params={"q": query, "k": 5})
                else:
                    r = await http.post("/api/ask", json={"question": query, "k": 5})
                if not r.is_success:
                    errors[f"{kind} HTTP {r.status_code}: {r.text[:200]}"] += 1
                    continue
                r.json()
            except Exception as exc:  # noqa: BLE001 - every failure counts as an error
                errors[f"{kind} {exc.__class__.__name__}: {exc}"[:200]] += 1
                continue
            latencies[kind].append((time.perf_counter() - start) * 1000)

    async def sample_rss() -> None:
        for i in range(SAMPLES + 1):
            if pid is not None:
                rss.append({"t_s": round(time.monotonic() - t0, 1), "rss_mb": rss_mb(pid)})
            await asyncio.sleep(max(0.0, t0 + seconds * (i + 1) / SAMPLES - time.monotonic()))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits, trust_env=False) as http:
        sampler = asyncio.create_task(sample_rss())
        # bounded: clients stop starting requests at stop_at; one in flight may take up to its timeout
        await asyncio.wait_for(asyncio.gather(*(client(http, random.Random(seed * 1000 + i))
                                                for i in range(clients))), seconds + 120)
        elapsed = time.monotonic() - t0
        sampler.cancel()
    if pid is not None:
        rss.append({"t_s": round(elapsed, 1), "rss_mb": rss_mb(pid)})
    done = len(latencies["search"]) + len(latencies["ask"])
    return {"clients": clients, "seconds": seconds, "elapsed_s": round(elapsed, 2), "requests": done,
            "errors": sum(errors.values()), "error_kinds": dict(errors.most_common(10)),
            "requests_per_s": round(done / elapsed, 2),
            "latency_ms": {"search": percentiles(latencies["search"]), "ask": percentiles(latencies["ask"]),
                           "all": percentiles(latencies["search"] + latencies["ask"])},
            "rss_samples": rss}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=32)
    args = ap.parse_args()
    from wenda.indexer.build import IndexSettings, build_index

    index_dir = WORK / "idx-load"
    build_index([ROOT / "seeds"], index_dir, IndexSettings(), cache_dir(), wait=True)   # no-op when up to date
    script = Path(sys.executable).parent / "wenda"
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "wenda.api.cli"]
    env = {**os.environ, "WENDA_CACHE": str(cache_dir()), "WENDA_INDEX": str(index_dir)}
    env.pop("WENDA_API_KEY", None)
    log_path = WORK / "load-serve.log"
    with server(cli, index_dir, env, log_path) as (proc, base):
        load_start = round(os.getloadavg()[0], 2)
        rss_start = rss_mb(proc.pid)
        report = asyncio.run(run_load(base, args.clients, args.seconds, pid=proc.pid))
        load_end = round(os.getloadavg()[0], 2)
    report.update(rss_start_mb=rss_start, rss_end_mb=report["rss_samples"][-1]["rss_mb"],
                  loadavg_1min_start=load_start, loadavg_1min_end=load_end,
                  mix={"search": 1 - ASK_SHARE, "ask": ASK_SHARE}, queries=len(QUERIES))
    write_results("load", "Load: a real server under concurrent clients", markdown(report), report)
    print(f"{report['requests']} requests in {report['elapsed_s']} s ({report['requests_per_s']}/s), "
          f"{report['errors']} errors; RSS {rss_start} -> {report['rss_end_mb']} MB; "
          f"load average {load_start} -> {load_end}")
    for kind, p in report["latency_ms"].items():
        if p:
            print(f"  {kind:6s} n={p['n']:5d}  p50 {p['p50']} ms  p95 {p['p95']} ms  p99 {p['p99']} ms")
    for message, count in report["error_kinds"].items():
        print(f"  error x{count}: {message}")
    return 1 if report["errors"] else 0


def markdown(r: dict) -> str:
    md = [f"`wenda serve` on 127.0.0.1 (uvicorn, one process) with the seeds index; {r['clients']} concurrent "
          f"clients (httpx, asyncio) sending requests back to back for {r['seconds']:g} s: GET /api/search "
          f"(k=5) {r['mix']['search']:.0%}, POST /api/ask (k=5) {r['mix']['ask']:.0%}, drawn at random from "
          f"{r['queries']} Chinese queries (24 written out, the rest district x topic x phrasing, so most "
          "requests are new to the server's query-vector cache). Errors are any non-2xx answer or exception.\n",
          f"Requests: **{r['requests']}** in {r['elapsed_s']} s = **{r['requests_per_s']}/s**; "
          f"errors: **{r['errors']}**.  ",
          f"1-minute load average: {r['loadavg_1min_start']} at start, {r['loadavg_1min_end']} at end "
          "(2 cores, shared with other work).\n",
          "| endpoint | requests | p50 ms | p95 ms | p99 ms | mean ms |", "|---|---|---|---|---|---|"]
    for kind, p in r["latency_ms"].items():
        if p:
            md.append(f"| {kind} | {p['n']} | {p['p50']} | {p['p95']} | {p['p99']} | {p['mean']} |")
    md += [f"\nServer resident memory (VmRSS): {r['rss_start_mb']} MB after /readyz, {r['rss_end_mb']} MB at "
           "the end.\n", "| t (s) | RSS MB |", "|---|---|"]
    md += [f"| {s['t_s']} | {s['rss_mb']} |" for s in r["rss_samples"]]
    if r["error_kinds"]:
        md += ["\nErrors:\n"] + [f"- x{n}: `{m}`" for m, n in r["error_kinds"].items()]
    return "\n".join(md)


if __name__ == "__main__":
    sys.exit(main())
