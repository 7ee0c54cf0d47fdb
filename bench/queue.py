"""Queue throughput: N tasks through the real engine against a provider of latency L.

efficiency = ideal / wall time, where ideal = ceil(N/c)·L is the wall time of N tasks of
latency L with c running at once. Also CPU ms per task of this (the engine's) process and its
peak RSS. Each configuration runs in a fresh process so its RSS is its own.

Two providers: `demo` draws its pictures in this process (inside L, as a remote API's drawing
is inside its latency, but on our CPU); `http` is the `openai-compatible` provider against
bench/fake_images_server.py, a process of its own that answers one pre-encoded JPEG after L,
so the CPU measured is the engine's and its HTTP client's. With `http`, a bare aiohttp client
then makes the same N calls to the same server (`bare client's` efficiency): the ceiling that
the server, the loopback and an HTTP client leave on this machine, measured in the same run.
Usage:

    python bench/queue.py                      # the two recorded configurations, both modes
    python bench/queue.py --provider http      # the two configurations, one mode
    python bench/queue.py --n 2000 --latency-ms 50 --concurrency 10 --provider http
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `queue`; keep its folder off the import
# path, or asyncio's thread pool would import this script instead.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]

import argparse
import asyncio
import base64
import contextlib
import cProfile
import json
import math
import os
import re
import resource
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event

from imagebatch.app import App, build_app
from imagebatch.config import Settings
from imagebatch.domain.requests import ImageRequest
from imagebatch.domain.specs import Mode, TaskSpec
from imagebatch.engine.service import Submission
from imagebatch.providers.demo import DemoProvider
from imagebatch.store import driver

CONFIGS = [(2_000, 50, 10), (10_000, 1_000, 200)]
PROVIDERS = ("demo", "http")
FAKE_SERVER = Path(_HERE) / "fake_images_server.py"


@contextlib.contextmanager
def fake_server(latency_ms: int) -> Iterator[str]:
    """bench/fake_images_server.py in a process of its own; yields its base URL."""
    command = [sys.executable, str(FAKE_SERVER), "--latency-ms", str(latency_ms)]
    command.append("--exit-with-parent")
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = json.loads(server.stdout.readline())["port"]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def server_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/stats", timeout=10) as answer:
        stats: dict[str, Any] = json.loads(answer.read())
        return stats


class SqlCounts:
    """Statements and write transactions the engine ran: most of a transaction's cost is
    SQLAlchemy's Python per statement, and unlike times these counts do not depend on how
    busy the machine is."""

    def __init__(self, app: App) -> None:
        self._statements = 0
        #: those run on the driver's cursor (store/driver.py), which SQLAlchemy does not see
        self._driver_from = driver.Counts.statements
        self.writes = 0
        db = app.db
        for engine in {db.write_engine, db.read_engine, db.inline_engine}:
            event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(db.write_engine, "commit", self._commit)

    @property
    def statements(self) -> int:
        return self._statements + driver.Counts.statements - self._driver_from

    def _statement(self, *_: object) -> None:
        self._statements += 1

    def _commit(self, *_: object) -> None:
        self.writes += 1

    def reset(self) -> None:
        self._statements = self.writes = 0
        self._driver_from = driver.Counts.statements


def cpu_by_thread() -> dict[str, float]:
    """CPU seconds of this process's live threads, by pool (`db-write`, `asyncio` for
    to_thread's, `MainThread` for the event loop), from /proc (Linux; empty elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pool = re.sub(r"_\d+$", "", thread.name)
        seconds[pool] = seconds.get(pool, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return seconds


async def run_batch(app: App, provider: str, n: int, concurrency: int) -> dict[str, Any]:
    """Submit N prompts and drain them with one worker; the timings of both, and the SQL the
    worker ran."""
    counts = SqlCounts(app)
    specs = [TaskSpec(ImageRequest(f"bench tile {i}"), source=f"prompt {i}") for i in range(n)]
    started = time.perf_counter()
    submitted = await app.service.submit(
        Submission("bench", "bench", Mode.GENERATE, provider, specs, max_tasks=n)
    )
    enqueue_s = time.perf_counter() - started
    worker = app.worker(batch_ids=[submitted.batch.id], concurrency=concurrency, drain=True)
    counts.reset()
    threads0 = cpu_by_thread()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await worker.run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    threads = {
        pool: round((spent - threads0.get(pool, 0.0)) * 1000 / n, 2)
        for pool, spent in cpu_by_thread().items()
    }
    statements, writes = counts.statements, counts.writes
    batch = await app.batches.get(submitted.batch.id)
    assert batch.succeeded == n, batch
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "enqueue_s": enqueue_s,
        "statements": statements,
        "writes": writes,
        "threads": threads,
    }


async def bare_calls(base_url: str, n: int, concurrency: int) -> float:
    """The same N calls from a bare aiohttp client (c at once; each answer read, parsed and
    its image decoded, nothing stored): the wall time of the calls alone, the ceiling the
    engine is measured against in the same run, on the same server and machine."""
    import aiohttp

    left = iter(range(n))
    body = json.dumps({"model": "bench", "prompt": "bench tile"}).encode()
    headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}

    async def caller(session: aiohttp.ClientSession) -> None:
        for _ in left:
            async with session.post(f"{base_url}/images/generations", data=body) as answer:
                image = json.loads(await answer.read())["data"][0]["b64_json"]
                base64.b64decode(image)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        await asyncio.gather(*(caller(session) for _ in range(concurrency)))
        return time.perf_counter() - started


async def measure(n: int, latency_ms: int, concurrency: int, provider: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        settings = Settings(data_dir=Path(scratch), max_tasks_per_batch=n)
        if provider == "http":
            base_url = stack.enter_context(fake_server(latency_ms))
            settings = settings.model_copy(update={"openai_compatible_base_url": f"{base_url}/v1"})
            app = await build_app(settings)
            timings = await run_batch(app, "openai-compatible", n, concurrency)
            stats = server_stats(base_url)
            timings["bare_wall_s"] = await bare_calls(f"{base_url}/v1", n, concurrency)
        else:
            demo = DemoProvider(latency_ms=latency_ms)
            app = await build_app(settings, providers={"demo": demo})
            timings = await run_batch(app, "demo", n, concurrency)
            stats = {"max_in_flight": demo.max_in_flight, "cpu_s": None}
        await app.close()
    return summary(n, latency_ms, concurrency, provider, timings, stats)


def summary(
    n: int,
    latency_ms: int,
    concurrency: int,
    provider: str,
    timings: dict[str, Any],
    stats: dict[str, Any],
) -> dict[str, Any]:
    ideal = math.ceil(n / concurrency) * latency_ms / 1000
    server_cpu = stats.get("cpu_s")
    return {
        "provider": provider,
        "n": n,
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "max_in_flight": stats["max_in_flight"],
        "connections": stats.get("connections"),
        "wall_s": round(timings["wall_s"], 2),
        "ideal_s": round(ideal, 2),
        "efficiency": round(ideal / timings["wall_s"], 3),
        "bare_client_efficiency": (
            round(ideal / timings["bare_wall_s"], 3) if "bare_wall_s" in timings else None
        ),
        "cpu_ms_per_task": round(timings["cpu_s"] * 1000 / n, 2),
        "server_cpu_ms_per_task": None if server_cpu is None else round(server_cpu * 1000 / n, 2),
        "enqueue_s": round(timings["enqueue_s"], 2),
        "sql_per_task": round(timings["statements"] / n, 2),
        "write_transactions_per_task": round(timings["writes"] / n, 3),
        "cpu_ms_per_task_by_thread": timings["threads"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    """One configuration in this process, under cProfile when asked: the event loop's
    thread only (the database and output threads are not seen), in CPU time, not wall time,
    so waiting for a core on a busy machine does not show as cost."""
    run = measure(args.n, args.latency_ms, args.concurrency, args.provider)
    if not args.profile:
        return asyncio.run(run)
    with cProfile.Profile(time.thread_time) as profile:
        result = asyncio.run(run)
    profile.dump_stats(args.profile)
    return result


def in_fresh_process(n: int, latency: int, c: int, provider: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--n", str(n), "--latency-ms", str(latency)]
    cmd += ["--concurrency", str(c), "--provider", provider]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def print_table(providers: list[str]) -> None:
    print(f"load average before: {os.getloadavg()[0]:.1f} (other processes share the cores)")
    print(
        "| provider | N | L | c | wall s | ideal s | efficiency | bare client's | CPU ms/task "
        "| of it: loop / outputs / db-write | SQL statements/task | fake server CPU ms/task "
        "| peak RSS MB | max in flight |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for provider in providers:
        for n, latency, c in CONFIGS:
            print(table_row(provider, in_fresh_process(n, latency, c, provider)), flush=True)


def table_row(provider: str, r: dict[str, Any]) -> str:
    server_cpu = r["server_cpu_ms_per_task"]
    by_thread = r["cpu_ms_per_task_by_thread"]
    split = " / ".join(
        str(by_thread.get(pool, "–")) for pool in ("MainThread", "asyncio", "db-write")
    )
    return (
        f"| {provider} | {r['n']} | {r['latency_ms']} ms | {r['concurrency']} | {r['wall_s']} "
        f"| {r['ideal_s']} | {r['efficiency']} | {r['bare_client_efficiency'] or '–'} "
        f"| {r['cpu_ms_per_task']} | {split} "
        f"| {r['sql_per_task']} | {'–' if server_cpu is None else server_cpu} "
        f"| {r['peak_rss_mb']} | {r['max_in_flight']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--provider", choices=PROVIDERS, help="default: both, in turn")
    parser.add_argument("--profile", help="with --n: write a cProfile of the run to this file")
    args = parser.parse_args()
    if args.n:
        args.provider = args.provider or "demo"
        print(json.dumps(one_run(args)))
        return
    print_table([args.provider] if args.provider else list(PROVIDERS))


if __name__ == "__main__":
    main()
