"""Queue throughput: N tasks through the real engine against the demo provider.

efficiency = (N·L/c) / wall time, where N·L/c is the ideal wall time of N tasks of latency L
with c running at once. Also CPU ms per task and peak RSS. Each configuration runs in a
fresh process so its RSS is its own. Usage:

    python bench/queue.py                      # the two recorded configurations
    python bench/queue.py --n 2000 --latency-ms 50 --concurrency 10
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
import json
import resource
import subprocess
import tempfile
import time

from imagebatch.app import build_app
from imagebatch.config import Settings
from imagebatch.domain.specs import Mode, TaskSpec
from imagebatch.engine.service import Submission
from imagebatch.providers.demo import DemoProvider

CONFIGS = [(2_000, 50, 10), (10_000, 1_000, 200)]


async def measure(n: int, latency_ms: int, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch), max_tasks_per_batch=n)
        demo = DemoProvider(latency_ms=latency_ms)
        app = await build_app(settings, providers={"demo": demo})
        specs = [TaskSpec(prompt=f"bench tile {i}", source=f"prompt {i}") for i in range(n)]
        started = time.perf_counter()
        submitted = await app.service.submit(
            Submission("bench", "bench", Mode.GENERATE, "demo", specs, max_tasks=n)
        )
        enqueue_s = time.perf_counter() - started
        worker = app.worker(batch_ids=[submitted.batch.id], concurrency=concurrency, drain=True)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await worker.run()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        batch = await app.batches.get(submitted.batch.id)
        await app.close()
    assert batch.succeeded == n, batch
    ideal = n * latency_ms / 1000 / concurrency
    return {
        "n": n,
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "max_in_flight": demo.max_in_flight,
        "wall_s": round(wall, 2),
        "ideal_s": round(ideal, 2),
        "efficiency": round(ideal / wall, 3),
        "cpu_ms_per_task": round(cpu * 1000 / n, 2),
        "enqueue_s": round(enqueue_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    if args.n:
        print(json.dumps(asyncio.run(measure(args.n, args.latency_ms, args.concurrency))))
        return
    print(
        "| N | L | c | wall s | ideal s | efficiency | CPU ms/task | peak RSS MB | max in flight |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n, latency, c in CONFIGS:
        cmd = [
            sys.executable,
            __file__,
            "--n",
            str(n),
            "--latency-ms",
            str(latency),
            "--concurrency",
            str(c),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"| {n} | {latency} ms | {c} | {r['wall_s']} | {r['ideal_s']} | {r['efficiency']} "
            f"| {r['cpu_ms_per_task']} | {r['peak_rss_mb']} | {r['max_in_flight']} |"
        )


if __name__ == "__main__":
    main()
