"""API latency under load: a 10,000-task batch in progress, many clients watching it.

Two measurements against a real `imagebatch serve` process (SQLite, workers inside, the
demo provider at 1 s per image, 10 at once, so the batch stays in progress):

1. polling: 200 clients, each asking every second for the batch (GET /api/batches/{id}) and
   one page of its tasks (GET /api/batches/{id}/tasks?cursor=…&limit=50): p50 / p99 latency.
2. SSE: 500 clients subscribed to GET /api/batches/{id}/events: the delay from a task's
   state change (the event's server timestamp) to its arrival at each client, p50 / p99.

3. submission: 50 clients polling as in (1) while 10,000-task batches are submitted over the
   API one after another: the pollers' p50 / p99 before the first submission and during the
   submissions (a request counts as "during" when its time in flight overlaps one).

Targets: p99 under 100 ms for all three, on the 2-core machine. The load generator shares the
machine with the server; clients run in --procs separate processes so their own CPU does
not queue behind one GIL, and the pollers use aiohttp: with httpx, 100 pollers in one
process spent so much CPU that they could not keep their own schedule (359 of the 400
requests a second asked for), and their figures were mostly their own queueing.
Usage: python bench/api.py [--seconds 30] [--clients 200]
[--subscribers 500] [--procs 2] [--submit-clients 50] [--submissions 3]
[--phases poll,sse,submit]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py is named like the standard library's `queue`; keep this folder off the
# import path (multiprocessing imports `queue`).
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from typing import Any

import aiohttp
import httpx

TASKS = 10_000
PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "IMAGEBATCH_DATA_DIR": str(data_dir),
        "IMAGEBATCH_ADMIN_PASSWORD": PASSWORD,
        "IMAGEBATCH_DEMO_LATENCY_MS": "1000",
        "IMAGEBATCH_CONCURRENCY": "10",
        "IMAGEBATCH_MAX_TASKS_PER_BATCH": str(TASKS),
        # every subscriber is the admin: the per-user stream limit (default 20) would close them
        "IMAGEBATCH_MAX_EVENT_STREAMS_PER_USER": "1000",
        # the submission phase adds several 10,000-task batches of the same user
        "IMAGEBATCH_MAX_ACTIVE_TASKS_PER_USER": "1000000",
    }
    command = [sys.executable, "-m", "imagebatch", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start")


def prepare(url: str) -> tuple[str, int, int]:
    """A token and a 10,000-task batch that is running; returns (token, batch id, first task)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        login = client.post("/api/auth/login", json={"name": "admin", "password": PASSWORD})
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        token = client.post("/api/auth/tokens", json={"name": "bench"}).json()["token"]
        started = time.perf_counter()
        batch_id = create_batch(client)
        print(f"created the {TASKS}-task batch in {time.perf_counter() - started:.2f} s")
        first = client.get(f"/api/batches/{batch_id}/tasks?limit=1").json()["items"][0]["id"]
    return token, batch_id, first


def create_batch(client: httpx.Client, tag: str = "") -> int:
    values = [str(i) for i in range(TASKS)]
    body = {"prompt": f"bench tile{tag} {{n}}", "variables": {"n": values}}
    created = client.post("/api/batches", json=body)
    created.raise_for_status()
    batch_id: int = created.json()["batch"]["id"]
    return batch_id


async def poller(
    url: str, token: str, batch_id: int, first: int, until: float
) -> list[tuple[float, float]]:
    """(when sent, wall clock; latency) of each request."""
    latencies: list[tuple[float, float]] = []
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(url, headers=headers, timeout=timeout) as session:
        await asyncio.sleep(random.random())  # spread the clients over the second
        while time.monotonic() < until:
            tick = time.monotonic()
            cursor = first + random.randrange(TASKS)
            for path in (
                f"/api/batches/{batch_id}",
                f"/api/batches/{batch_id}/tasks?limit=50&cursor={cursor}",
            ):
                sent, wall = time.perf_counter(), time.time()
                async with session.get(path) as response:
                    response.raise_for_status()
                    await response.read()
                latencies.append((wall, time.perf_counter() - sent))
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    return latencies


async def subscribers(url: str, token: str, batch_id: int, count: int, until: float) -> list[float]:
    """`count` streams through one aiohttp session (one connection each). Like the pollers,
    the streams use aiohttp and read the lines themselves: httpx with httpx_sse spent several
    times the CPU per event, so on a busy machine the figures were mostly the clients' own
    queueing."""
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(url, headers=headers, connector=connector) as session:
        jobs = [subscriber(session, batch_id, until) for _ in range(count)]
        return [delay for delays in await asyncio.gather(*jobs) for delay in delays]


async def subscriber(session: aiohttp.ClientSession, batch_id: int, until: float) -> list[float]:
    """The delay of each `task` event: its arrival here against its server timestamp."""
    delays: list[float] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, until - time.monotonic())):
            async with session.get(f"/api/batches/{batch_id}/events") as response:
                response.raise_for_status()
                kind = b""
                async for line in response.content:
                    if line.startswith(b"event:"):
                        kind = line[6:].strip()
                    elif line.startswith(b"data:") and kind == b"task":
                        delays.append(time.time() - json.loads(line[5:])["at"])
    return delays


class Probe:
    """One more client, alone in its own thread, asking for the same two things 20 times a
    second while the pollers run. The pollers' figures include their own queueing (200
    asyncio clients in two processes); this one shows what the server alone adds."""

    def __init__(self, url: str, token: str, batch_id: int, first: int) -> None:
        self.args = (url, token, batch_id, first)
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        url, token, batch_id, first = self.args
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            while not self._stop.wait(0.05):
                cursor = first + random.randrange(TASKS)
                for path in (
                    f"/api/batches/{batch_id}",
                    f"/api/batches/{batch_id}/tasks?limit=50&cursor={cursor}",
                ):
                    sent = time.perf_counter()
                    client.get(path).raise_for_status()
                    self.latencies.append(time.perf_counter() - sent)


def run_share(
    kind: str, args: tuple[Any, ...], count: int, seconds: float, ready: str | None = None
) -> list[Any]:
    """One process's share of the clients; it leaves a file in `ready` once they start."""

    async def main() -> list[Any]:
        if ready:
            (Path(ready) / str(os.getpid())).touch()
        until = time.monotonic() + seconds
        if kind != "poll":
            return await subscribers(*args, count, until)
        results = await asyncio.gather(*(poller(*args, until) for _ in range(count)))
        return [x for result in results for x in result]

    return asyncio.run(main())


def spread(
    kind: str,
    args: tuple[Any, ...],
    total: int,
    procs: int,
    seconds: float,
    ready: str | None = None,
) -> list[Any]:
    shares = [total // procs + (1 if i < total % procs else 0) for i in range(procs)]
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        parts = pool.starmap(run_share, [(kind, args, n, seconds, ready) for n in shares])
    return [x for part in parts for x in part]


class Submitter:
    """Submits 10,000-task batches one after another in its own thread, after `quiet`
    seconds of polling alone (counted from when the pollers' processes have all started:
    `ready` holds a file from each) and `gap` seconds apart; records when each ran."""

    def __init__(
        self, url: str, token: str, count: int, quiet: float, gap: float, ready: tuple[str, int]
    ) -> None:
        self.args = (url, token)
        self.count, self.quiet, self.gap = count, quiet, gap
        self.ready = ready
        self.windows: list[tuple[float, float]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Submitter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()

    def _run(self) -> None:
        url, token = self.args
        headers = {"Authorization": f"Bearer {token}"}
        folder, procs = self.ready
        while len(os.listdir(folder)) < procs:
            time.sleep(0.05)
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            time.sleep(self.quiet)
            for n in range(self.count):
                started = time.time()
                create_batch(client, f" {n}")
                self.windows.append((started, time.time()))
                time.sleep(self.gap)


def submission_phase(url: str, token: str, batch_id: int, first: int, options: Any) -> None:
    quiet, gap = 5.0, 3.0
    # long enough for the submissions even when each takes several seconds on a busy machine
    seconds = quiet + options.submissions * (gap + 6.0)
    args = (url, token, batch_id, first)
    with tempfile.TemporaryDirectory() as ready:
        submitter = Submitter(url, token, options.submissions, quiet, gap, (ready, options.procs))
        with submitter:
            polled = spread("poll", args, options.submit_clients, options.procs, seconds, ready)
    windows = submitter.windows
    took = ", ".join(f"{end - start:.2f}" for start, end in windows)
    print(f"submission: {len(windows)} batches of {TASKS} tasks, each created in {took} s")
    before = [lat for sent, lat in polled if sent + lat < windows[0][0]]
    during = [
        lat
        for sent, lat in polled
        if any(sent < end and sent + lat > start for start, end in windows)
    ]
    print(f"  {options.submit_clients} pollers before: {quantiles(before)}")
    print(
        f"  {options.submit_clients} pollers during: {quantiles(during)} ({len(during)} requests)"
    )


def quantiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ms = sorted(v * 1000 for v in values)
    cuts = statistics.quantiles(ms, n=100)
    return (
        f"p50 {cuts[49]:.1f} ms, p90 {cuts[89]:.1f} ms, p99 {cuts[98]:.1f} ms, max {ms[-1]:.1f} ms"
    )


def server_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_cpu_seconds(pid: int) -> float:
    """The server process's CPU time so far (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sse_phase(url: str, token: str, batch_id: int, pid: int, options: Any) -> None:
    """The delays, and the server's CPU per event delivered: less sensitive than the delays
    to whatever else the machine runs (it includes the workers and the demo's drawing)."""
    cpu = server_cpu_seconds(pid)
    args = (url, token, batch_id)
    delays = spread("sse", args, options.subscribers, options.procs, options.seconds)
    cpu = server_cpu_seconds(pid) - cpu
    per_event = cpu / len(delays) * 1e6 if delays else float("nan")
    print(
        f"SSE, {options.subscribers} subscribers: {len(delays)} events received: "
        f"{quantiles(delays)}"
    )
    print(f"  server CPU meanwhile {cpu:.1f} s, {per_event:.0f} µs per event delivered")


def polling_phase(url: str, token: str, batch_id: int, first: int, options: Any) -> None:
    with Probe(url, token, batch_id, first) as probe:
        polled = spread(
            "poll", (url, token, batch_id, first), options.clients, options.procs, options.seconds
        )
    rate = len(polled) / options.seconds
    latencies = [lat for _, lat in polled]
    print(
        f"polling, {options.clients} clients: {len(polled)} requests ({rate:.0f}/s): "
        f"{quantiles(latencies)}"
    )
    print(f"  meanwhile one more client on its own: {quantiles(probe.latencies)}")


def main() -> None:
    # A `timeout` or Ctrl-C must still stop the server below (the finally clause).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--submit-clients", type=int, default=50)
    parser.add_argument("--submissions", type=int, default=3)
    parser.add_argument("--phases", default="poll,sse,submit")
    options = parser.parse_args()
    phases = set(options.phases.split(","))
    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(Path(scratch), port)
        try:
            wait_healthy(url)
            token, batch_id, first = prepare(url)
            if "poll" in phases:
                polling_phase(url, token, batch_id, first, options)
            if "sse" in phases:
                sse_phase(url, token, batch_id, server.pid, options)
            if "submit" in phases:
                submission_phase(url, token, batch_id, first, options)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
                done = c.get(f"/api/batches/{batch_id}").json()["done"]
            print(
                f"batch progress meanwhile: {done}/{TASKS}; "
                f"server peak RSS {server_rss_mb(server.pid):.0f} MB"
            )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
