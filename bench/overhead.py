"""Per-image overhead: `imagebatch run` against a bare aiohttp client, same fake server, same run.

The fake OpenAI-compatible server runs in a process of its own (its CPU is not counted) and
answers every POST /v1/images/generations after L ms with one fixed, pre-encoded body: a
1024² JPEG of about S KB as `b64_json`, the Images API's shape. The bare client posts, decodes the
base64 and writes each file, c at once. `imagebatch run` does the same through the whole
product (queue, provenance, blob store, output folder). Both run as subprocesses; CPU is
their user+system time (getrusage of children). Start-up is told apart from the engine by
the fake server's clock: the first request's arrival and the last answer's departure.

Marginal CPU per image = (CPU at N − CPU at 1) / (N − 1): what each image costs once the
process is up. Usage:

    python bench/overhead.py                          # N=500, L=200 ms, c=50, 200 KB, 3 rounds
    python bench/overhead.py --n 500 --latency-ms 0 --rounds 5
    python bench/overhead.py --src after=/tmp/new/src --src before=/tmp/old/src   # an A/B
    python bench/overhead.py --fresh      # each run also creates its database (a first run)

Rounds interleave the clients, and medians are printed, so a machine whose speed drifts (a
shared VM, tests running beside it) hits them alike; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
MODEL = "bench-image-1"


# --- the fake server (its own process) --------------------------------------------------------


def jpeg_of_about(kilobytes: int, side: int = 1024) -> bytes:
    """A side² JPEG of roughly the size asked for, as an image model's would be: a gradient
    under noise whose strength is searched until the file has the size."""
    from PIL import Image

    base = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    low, high, data = 0.0, 128.0, b""
    for _ in range(12):
        sigma = (low + high) / 2
        noise = Image.effect_noise((side, side), sigma).convert("RGB")
        buffer = io.BytesIO()
        Image.blend(base, noise, 0.5).save(buffer, "JPEG", quality=85)
        data = buffer.getvalue()
        if abs(len(data) - kilobytes * 1024) < kilobytes * 1024 * 0.03:
            break
        low, high = (low, sigma) if len(data) > kilobytes * 1024 else (sigma, high)
    return data


def answer_body(kilobytes: int) -> bytes:
    image = base64.b64encode(jpeg_of_about(kilobytes)).decode()
    body = {"created": 1, "output_format": "jpeg", "data": [{"b64_json": image}]}
    return json.dumps(body).encode()


def serve(port: int, latency_ms: int, kilobytes: int) -> None:
    from aiohttp import web

    body = answer_body(kilobytes)
    fresh = {"first_in": None, "last_out": None, "count": 0, "in_flight": 0, "max_in_flight": 0}
    clock: dict[str, float | int | None] = dict(fresh)

    async def generate(request: web.Request) -> web.Response:
        clock["first_in"] = clock["first_in"] or time.time()
        in_flight = int(clock["in_flight"] or 0) + 1
        clock.update(in_flight=in_flight, max_in_flight=max(in_flight, clock["max_in_flight"] or 0))
        await request.read()
        await asyncio.sleep(latency_ms / 1000)
        clock["last_out"] = time.time()
        clock["count"] = int(clock["count"] or 0) + 1
        clock["in_flight"] = int(clock["in_flight"] or 1) - 1
        headers = {"x-request-id": "req_bench"}
        return web.Response(body=body, content_type="application/json", headers=headers)

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(clock)

    async def reset(_: web.Request) -> web.Response:
        clock.update(fresh)
        return web.json_response(clock)

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.add_routes(
        [
            web.post("/v1/images/generations", generate),
            web.get("/stats", stats),
            web.post("/reset", reset),
        ]
    )
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=1024)


# --- the bare client (its own process) -------------------------------------------------------


async def bare_client(url: str, n: int, concurrency: int, out: Path) -> None:
    import aiohttp

    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        async with gate:
            payload = {"model": MODEL, "prompt": f"bench {i}", "n": 1, "size": "1024x1024"}
            async with session.post(f"{url}/images/generations", json=payload) as response:
                answer = await response.json()
            data = base64.b64decode(answer["data"][0]["b64_json"])
            (out / f"{i}.jpg").write_bytes(data)

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one(session, i) for i in range(n)))


# --- the measuring side ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake(latency_ms: int, kilobytes: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [sys.executable, __file__, "--serve", str(port), f"--latency-ms={latency_ms}"]
    fake = subprocess.Popen([*argv, f"--kb={kilobytes}"])
    root = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            fake_call(root, "/stats")
            return fake, root
        except OSError:
            time.sleep(0.05)
    fake.kill()
    raise RuntimeError("the fake server did not start")


def fake_call(root: str, path: str, method: str = "GET") -> dict[str, Any]:
    request = urllib.request.Request(root + path, method=method)
    with urllib.request.urlopen(request, timeout=5) as answer:
        return dict(json.loads(answer.read()))


def child_environment() -> dict[str, str]:
    """Both clients run with a bytecode cache, as users' do: this environment sets
    PYTHONDONTWRITEBYTECODE, which would leave our own modules compiled afresh every run.
    The cache has a folder of its own, warmed by an untimed first run (measure())."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "imagebatch-bench-pyc")}


def timed_child(argv: list[str], env: dict[str, str], root: str) -> dict[str, float]:
    """Run one subprocess; its wall and CPU seconds, and the fake server's view of it."""
    fake_call(root, "/reset", "POST")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    ended = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.stderr.write(done.stdout.decode()[-3000:] + done.stderr.decode()[-3000:])
        raise RuntimeError(f"{argv[:3]} exited {done.returncode}")
    seen = fake_call(root, "/stats")
    system = after.ru_stime - before.ru_stime
    return {
        "wall": ended - started,
        "cpu": (after.ru_utime - before.ru_utime) + system,
        # the kernel's share, apart: on a busy disk its file creation varies the most
        "system": system,
        "startup": (seen["first_in"] or ended) - started,
        "engine": (seen["last_out"] or ended) - (seen["first_in"] or started),
        "tail": ended - (seen["last_out"] or ended),
        "requests": float(seen["count"]),
        "max_in_flight": float(seen["max_in_flight"]),
    }


def run_bare(root: str, n: int, concurrency: int, keep: Path) -> dict[str, float]:
    out = tempfile.mkdtemp(dir=keep)
    argv = [sys.executable, __file__, "--bare", f"{root}/v1", f"--n={n}"]
    argv += [f"--concurrency={concurrency}", f"--out={out}"]
    measured = timed_child(argv, child_environment(), root)
    assert len(os.listdir(out)) == n, "the bare client lost images"
    return measured


def run_imagebatch(
    root: str, n: int, concurrency: int, keep: Path, src: str = "", fresh: bool = False
) -> dict[str, float]:
    """`imagebatch run` as installed, or from the source folder `src` (an A/B of two trees).
    Its data folder holds a database already (created untimed, as every run after a user's
    first finds it), unless `fresh`: then the run creates it, migrations and all."""
    scratch = tempfile.mkdtemp(dir=keep)
    env = {
        **child_environment(),
        "IMAGEBATCH_DATA_DIR": f"{scratch}/data",
        "IMAGEBATCH_DATABASE_URL": "",
        "IMAGEBATCH_CONFIG": f"{scratch}/none.toml",
        "IMAGEBATCH_OPENAI_COMPATIBLE_BASE_URL": f"{root}/v1",
        "IMAGEBATCH_OPENAI_COMPATIBLE_MODEL": MODEL,
        "IMAGEBATCH_CONCURRENCY": str(min(100, concurrency)),
        "IMAGEBATCH_MAX_TASKS_PER_BATCH": str(max(n, 10)),
    }
    if src:
        env["PYTHONPATH"] = src
    command = [sys.executable, "-m", "imagebatch"] if src else [str(VENV_BIN / "imagebatch")]
    if not fresh:
        subprocess.run([*command, "db", "upgrade"], env=env, capture_output=True, check=True)
    argv = [*command, "run", "--provider", "openai-compatible"]
    argv += ["--prompt", "bench", f"--count={n}", f"--concurrency={concurrency}"]
    argv += ["--param", "output_format=jpeg", f"--out={scratch}/out"]
    measured = timed_child(argv, env, root)
    written = [p for p in os.listdir(f"{scratch}/out") if p.endswith(".jpg")]
    assert len(written) == n, f"imagebatch wrote {len(written)} of {n} images"
    return measured


def variants(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(name, source folder) of each imagebatch to measure; "" is the installed one."""
    named = [tuple(item.split("=", 1)) for item in args.src or []]
    return [(name, path) for name, path in named] or [("imagebatch", "")]


def run_one(
    root: str, n: int, concurrency: int, src: str | None, keep: Path, fresh: bool
) -> dict[str, float]:
    if src is None:
        return run_bare(root, n, concurrency, keep)
    return run_imagebatch(root, n, concurrency, keep, src, fresh)


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def measure(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    fake, root = start_fake(args.latency_ms, args.kb)
    # Every run's files stay until the end: on ext4 without a journal (this VM's disk) a new
    # inode is searched past every inode freed in the last minute or more, so deleting one
    # run's 1,000+ files and folders made the next run's file creation cost 0.8 ms an inode
    # instead of 0.15, and more for imagebatch (a file and a blob folder per image) than for
    # the bare client (a file), whichever ran after whom.
    keep = Path(tempfile.mkdtemp(prefix="overhead-"))
    try:
        rows: dict[str, list[dict[str, float]]] = {}
        for _, src in [("bare", None), *variants(args)]:  # warms the bytecode cache, untimed
            run_one(root, 1, args.concurrency, src, keep, args.fresh)
        for _ in range(args.rounds):  # interleaved, so drift in the machine hits both alike
            for name, src in [("bare", None), *variants(args)]:
                full = run_one(root, args.n, args.concurrency, src, keep, args.fresh)
                one = (
                    run_one(root, 1, args.concurrency, src, keep, args.fresh)
                    if args.marginal
                    else full
                )
                full["marginal_cpu"] = (full["cpu"] - one["cpu"]) / max(1, args.n - 1)
                full["marginal_system"] = (full["system"] - one["system"]) / max(1, args.n - 1)
                rows.setdefault(name, []).append(full)
                print(name, json.dumps({k: round(v, 5) for k, v in full.items()}), flush=True)
        return {name: median_of(runs) for name, runs in rows.items()}
    finally:
        fake.kill()
        fake.wait()
        shutil.rmtree(keep, ignore_errors=True)


def report(args: argparse.Namespace, medians: dict[str, dict[str, float]]) -> None:
    bare = medians["bare"]
    ideal = args.n * args.latency_ms / 1000 / args.concurrency
    print(
        f"\nN={args.n} L={args.latency_ms} ms c={args.concurrency} image≈{args.kb} KB, "
        f"median of {args.rounds}, {'a new' if args.fresh else 'an existing'} database "
        f"(ideal provider-bound wall {ideal:.2f} s, "
        f"load {os.getloadavg()[0]:.1f})"
    )
    print(
        "| client | wall s | start-up s | engine s | tail s | CPU ms/image | marginal CPU ms/img "
        "| of which system |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, row in medians.items():
        print(
            f"| {name} | {row['wall']:.2f} | {row['startup']:.2f} | {row['engine']:.2f} | "
            f"{row['tail']:.2f} | {row['cpu'] * 1000 / args.n:.2f} | "
            f"{row['marginal_cpu'] * 1000:.2f} | {row['marginal_system'] * 1000:.2f} |"
        )
    for name, ours in medians.items():
        if name == "bare":
            continue
        print(
            f"ratios {name}/bare: wall {ours['wall'] / bare['wall']:.2f} (target ≤ 1.3), "
            f"engine {ours['engine'] / bare['engine']:.2f}, "
            f"CPU per image {ours['cpu'] / bare['cpu']:.2f} (target ≤ 2.5), "
            f"marginal CPU per image {ours['marginal_cpu'] / max(bare['marginal_cpu'], 1e-9):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--kb", type=int, default=200, help="JPEG size of each image")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--marginal", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="time each run's creation of its database too (a user's very first run)",
    )
    parser.add_argument(
        "--src",
        action="append",
        metavar="NAME=FOLDER",
        help="measure imagebatch from this source folder (repeat for an A/B in one run)",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.latency_ms, args.kb)
    elif args.bare:
        asyncio.run(bare_client(args.bare, args.n, args.concurrency, args.out))
    else:
        report(args, measure(args))


if __name__ == "__main__":
    main()
