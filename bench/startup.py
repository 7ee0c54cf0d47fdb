"""Start-up: how long `imagebatch --help`, `imagebatch status` and a small `imagebatch run` take.

Each figure is the median of R rounds, beside same-run baselines: `python -c pass` for the
commands, and the provider's own latency for the run. Wall and CPU (user+system of the
child) are both given: on a busy machine wall stretches, CPU much less. The run sends N
prompts at once (`--concurrency N`) to a fake provider in a thread of this process that
answers after L seconds with a small fixed PNG: Gemini's generateContent (plain HTTP, the
SDK's JSON) and an OpenAI-compatible server's /v1/images/generations. It reports the wall from
launch to exit, when the first request arrived (start-up), and when the first image
reached the output folder, counted from the first answer the fake sent. Bytecode is cached
under a prefix of its own (this environment sets PYTHONDONTWRITEBYTECODE), warmed once
before timing. Usage:

    python bench/startup.py                        # R=3, N=20, L=1.0 s
    python bench/startup.py --rounds 5 --n 20 --latency 1.0
    python bench/startup.py --src before=/tmp/old/src --src after=/tmp/new/src   # an A/B

With --src, each round runs every source tree in turn (PYTHONPATH), so a busy machine
stretches both alike; the figures are given per tree.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

VENV_BIN = Path(sys.executable).parent
PYCACHE = Path(tempfile.gettempdir()) / "imagebatch-bench-pyc"
GEMINI_MODEL = "gemini-2.5-flash-image"
PROVIDERS = ("gemini", "openai-compatible")


def _png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class FakeProvider(ThreadingHTTPServer):
    """Any POST answered after `latency` seconds with the same image, in Gemini's shape for
    generateContent and the Images API's otherwise; notes when requests came and went."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.arrived: list[float] = []
        self.answered: list[float] = []
        image = _png()
        part = {"inlineData": {"mimeType": "image/png", "data": image}}
        candidate = {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}
        gemini = {"candidates": [candidate], "modelVersion": GEMINI_MODEL}
        self.gemini_body = json.dumps(gemini).encode()
        self.images_body = json.dumps({"created": 1, "data": [{"b64_json": image}]}).encode()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeProvider

    def do_POST(self) -> None:
        self.server.arrived.append(time.monotonic())
        self.rfile.read(int(self.headers.get("content-length", 0)))
        gemini = ":generateContent" in self.path
        body = self.server.gemini_body if gemini else self.server.images_body
        time.sleep(self.server.latency)  # the provider's latency, which this bench is about
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.answered.append(time.monotonic())

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def fake_provider(latency: float) -> Iterator[FakeProvider]:
    server = FakeProvider(latency)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def environment(
    workdir: Path, extra: dict[str, str] | None = None, src: str | None = None
) -> dict[str, str]:
    """The commands' environment; `src`: a source tree to run instead of the installed one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBATCH_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env |= {"PYTHONPYCACHEPREFIX": str(PYCACHE), "COLUMNS": "120"}
    env["IMAGEBATCH_DATA_DIR"] = str(workdir / "data")
    if src:
        env["PYTHONPATH"] = src
    return env | (extra or {})


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) of one command: CPU is told apart because a busy machine stretches wall."""
    start, cpu = time.monotonic(), children_cpu()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.monotonic() - start, children_cpu() - cpu


def command(*args: str) -> list[str]:
    return [str(VENV_BIN / "imagebatch"), *args]


@dataclass
class RunFigures:
    wall: float
    cpu: float
    #: from launch to the first request the provider saw
    startup: float
    #: from the provider's first answer to the first image in the output folder
    first_image: float


def provider_env(provider: str, url: str) -> tuple[dict[str, str], str]:
    """The variables that point `provider` at the fake, and the model to ask for."""
    if provider == "gemini":
        env = {"IMAGEBATCH_GEMINI_API_KEY": "bench", "IMAGEBATCH_GEMINI_BASE_URL": url}
        return env, GEMINI_MODEL
    env = {"IMAGEBATCH_OPENAI_COMPATIBLE_BASE_URL": f"{url}/v1"}
    return env | {"IMAGEBATCH_OPENAI_COMPATIBLE_MODEL": "bench-image"}, "bench-image"


def run_once(
    workdir: Path, provider: str, n: int, latency: float, src: str | None = None
) -> RunFigures:
    out = workdir / f"out-{time.monotonic_ns()}"
    with fake_provider(latency) as fake:
        extra, model = provider_env(provider, fake.url)
        argv = command(
            "run", "--prompt", "a {n}", "--var", "n=" + ",".join(str(i) for i in range(n)),
            "--provider", provider, "--model", model, "--concurrency", str(n), "--out", str(out),
        )  # fmt: skip
        start, cpu = time.monotonic(), children_cpu()
        process = subprocess.Popen(
            argv, env=environment(workdir, extra, src), cwd=workdir, stdout=subprocess.DEVNULL
        )
        first_file = _first_file_time(out, process)
        wall, cpu = time.monotonic() - start, children_cpu() - cpu
        if process.returncode != 0:
            sys.exit(f"imagebatch run --provider {provider} failed ({process.returncode})")
        startup, first_answer = min(fake.arrived) - start, min(fake.answered)
    return RunFigures(wall, cpu, startup, first_file - first_answer)


def _first_file_time(out: Path, process: subprocess.Popen[bytes]) -> float:
    """When the first image appeared in `out` (watched while the run goes on)."""
    first: float | None = None
    while process.poll() is None:
        if first is None and out.is_dir() and any(out.glob("*.png")):
            first = time.monotonic()
        time.sleep(0.005)  # the watcher's resolution, not a synchronisation
    return first if first is not None else time.monotonic()


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return median([wall for wall, _ in samples]), median([cpu for _, cpu in samples])


@dataclass
class Figures:
    """One source tree's samples: (wall, CPU) of each command, and each run's figures."""

    commands: dict[str, list[tuple[float, float]]]
    runs: dict[str, list[RunFigures]]


def measure_round(workdir: Path, src: str | None, n: int, latency: float, into: Figures) -> None:
    env = environment(workdir, src=src)
    for name, argv in (
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("imagebatch --help", command("--help")),
        ("imagebatch status", command("status")),
    ):
        into.commands.setdefault(name, []).append(timed(argv, env, workdir))
    for provider in PROVIDERS:
        into.runs.setdefault(provider, []).append(run_once(workdir, provider, n, latency, src))


def report(figures: Figures, n: int, latency: float) -> None:
    bare = medians(figures.commands["python -c pass"])[0]
    print(f"{'':34}{'wall s':>8}{'CPU s':>8}{'wall/python':>13}")
    for name, samples in figures.commands.items():
        wall, cpu = medians(samples)
        print(f"{name:34}{wall:8.3f}{cpu:8.3f}{wall / bare:12.1f}x")
    print(f"\nimagebatch run: {n} prompts, provider latency {latency:.1f} s, --concurrency {n}")
    heads = f"{'wall s':>8}{'CPU s':>8}{'wall/L':>8}{'start-up s':>12}{'1st image s':>13}"
    print(f"{'provider':20}{heads}")
    for provider, runs in figures.runs.items():
        wall = median([f.wall for f in runs])
        print(
            f"{provider:20}{wall:8.3f}{median([f.cpu for f in runs]):8.3f}"
            f"{wall / latency:8.2f}{median([f.startup for f in runs]):12.3f}"
            f"{median([f.first_image for f in runs]):13.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument(
        "--src", action="append", metavar="NAME=PATH", help="a source tree to compare"
    )
    args = parser.parse_args()
    trees: list[tuple[str, str | None]] = [
        (name, path) for name, _, path in (item.partition("=") for item in args.src or [])
    ] or [("installed", None)]
    figures = {name: Figures({}, {}) for name, _ in trees}
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        for _, src in trees:  # warms the bytecode cache, the database, the providers' modules
            timed(command("status"), environment(workdir, src=src), workdir)
            for provider in PROVIDERS:
                run_once(workdir, provider, 1, 0.0, src)
        for _ in range(args.rounds):
            for name, src in trees:
                measure_round(workdir, src, args.n, args.latency, figures[name])
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; medians of {args.rounds}")
    for name, _ in trees:
        if len(trees) > 1:
            print(f"\n== {name}")
        report(figures[name], args.n, args.latency)


if __name__ == "__main__":
    main()
