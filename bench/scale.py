"""Scale-out: N tasks through 1, 2 and 4 `imagebatch worker` processes on PostgreSQL,
against the fake OpenAI server with a fixed latency L, under a global concurrency limit c.

efficiency = (N·L/c) / wall: 1.0 would mean the queue adds nothing to the provider's latency
however many processes share the limit. wall runs from the first claim to the last task's
end, as the database recorded them (all processes share this machine's clock), so the
workers' start-up and their first poll for work are left out.

Claim overhead per task: each worker reports, when it stops, the time its claims spent in
their statements (waiting for the claim turn, reaping expired leases, choosing and updating
rows; not the commit or the thread hand-off), summed over every claim, empty ones included,
then divided by the tasks claimed. This is the part that grows with the number of processes:
they take turns for one advisory lock. Measured in the worker rather than from
pg_stat_statements (not installed here, and it cannot see time spent waiting for the lock
as belonging to claims).

The database is a fresh one, created and dropped by this script; the fake runs in this
process (its CPU time per request is printed, to show it is not the bottleneck). Usage:

    python bench/scale.py                               # 1, 2 and 4 workers
    python bench/scale.py --n 1200 --latency 0.4 --concurrency 16 --workers 1 2 4
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py is named like the standard library's `queue`: keep this folder off the
# import path. The repository's root goes on it instead, for the fakes in tests/.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import asyncio
import os
import re
import resource
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

from cryptography.fernet import Fernet
from tests.fakes.openai_images import FakeOpenAI
from tests.services import SessionDatabase

from imagebatch.app import build_app
from imagebatch.config import Settings
from imagebatch.domain.requests import ImageRequest
from imagebatch.domain.specs import Mode, TaskSpec
from imagebatch.engine.service import Submission

API_KEY = "sk-bench-scale-0001"
STOPPED = re.compile(
    r"claimed (\d+) task\(s\) in (\d+) claim\(s\),\s+([\d.]+) s\s+\(([\d.]+) s\s+waiting"
)


@dataclass
class Run:
    workers: int
    #: `imagebatch worker --concurrency`: most tasks one worker runs at once
    capacity: int
    n: int
    latency: float
    concurrency: int
    wall: float
    attempt_ms: float
    claimed: int
    #: the fewest and most tasks one worker claimed
    spread: tuple[int, int]
    claims: int
    claim_s: float
    waiting_s: float
    max_in_flight: int
    fake_cpu_ms: float
    worker_cpu_ms: float

    @property
    def ideal(self) -> float:
        return self.n * self.latency / self.concurrency

    def row(self) -> str:
        per_task = self.claim_s * 1000 / self.claimed
        waiting = self.waiting_s * 1000 / self.claimed
        cells = [
            self.workers,
            self.capacity,
            self.n,
            f"{self.latency * 1000:.0f} ms",
            self.concurrency,
            f"{self.wall:.2f}",
            f"{self.ideal:.2f}",
            f"{self.ideal / self.wall:.3f}",
            f"{self.n / self.wall:.1f}",
            f"{self.attempt_ms:.0f}",
            f"{per_task:.2f}",
            f"{waiting:.2f}",
            f"{self.claims / self.claimed:.2f}",
            "–".join(str(n) for n in self.spread),
            self.max_in_flight,
            f"{self.fake_cpu_ms:.2f}",
            f"{self.worker_cpu_ms:.2f}",
        ]
        return "| " + " | ".join(str(c) for c in cells) + " |"


HEADER = (
    "| workers | capacity each | N | L | c | wall s | ideal s | efficiency | tasks/s | attempt ms "
    "| claim ms/task | of which waiting | claims/task | tasks per worker | max in flight "
    "| bench CPU ms/task | workers' CPU ms/task |\n" + "|---" * 17 + "|"
)


def settings_env(
    database: SessionDatabase, scratch: Path, fake: FakeOpenAI, c: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBATCH_")}
    return {
        **env,
        "IMAGEBATCH_DATA_DIR": str(scratch),
        "IMAGEBATCH_DATABASE_URL": database.url,
        "IMAGEBATCH_SECRET_KEY": Fernet.generate_key().decode(),
        "IMAGEBATCH_OPENAI_API_KEY": API_KEY,
        "IMAGEBATCH_OPENAI_BASE_URL": fake.base_url,
        "IMAGEBATCH_CONCURRENCY": str(c),
    }


def start_workers(
    count: int, capacity: int, env: dict[str, str], scratch: Path
) -> list[subprocess.Popen[str]]:
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "imagebatch", "worker", "--concurrency", str(capacity)],
            env=env,
            cwd=scratch,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(count)
    ]
    for worker in workers:  # "worker … started": its loop runs
        line = worker.stdout.readline() if worker.stdout else ""
        if " started " not in line:
            raise RuntimeError(f"a worker did not start: {line}{worker.communicate()[0]}")
    return workers


async def submit(env: dict[str, str], n: int) -> None:
    settings = Settings(
        data_dir=Path(env["IMAGEBATCH_DATA_DIR"]),
        database_url=env["IMAGEBATCH_DATABASE_URL"],
        secret_key=env["IMAGEBATCH_SECRET_KEY"],  # type: ignore[arg-type]
        openai_api_key=API_KEY,  # type: ignore[arg-type]
        openai_base_url=env["IMAGEBATCH_OPENAI_BASE_URL"],
    )
    app = await build_app(settings, migrate=False)
    try:
        specs = [TaskSpec(ImageRequest(f"scale bench {i}"), source=f"prompt {i}") for i in range(n)]
        await app.service.submit(
            Submission("scale", "bench", Mode.GENERATE, "openai", specs, max_tasks=n)
        )
    finally:
        await app.close()


def wait_done(database: SessionDatabase, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with database.connect() as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM tasks WHERE status = 'succeeded'").fetchone()
            if row and row[0] == n:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {row and row[0]} of {n} tasks succeeded in time")
            time.sleep(0.1)


def timings(database: SessionDatabase) -> tuple[float, float]:
    """Wall seconds from the first claim to the last end, as the database recorded them,
    and the mean attempt as the worker timed it (the provider call, storing the output)."""
    with database.connect() as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM max(t.finished_at) - min(a.started_at)), avg(a.latency_ms)"
            " FROM tasks t JOIN attempts a ON a.task_id = t.id"
        ).fetchone()
    assert row is not None
    return float(row[0]), float(row[1])


def stop(workers: list[subprocess.Popen[str]]) -> list[tuple[int, int, float, float]]:
    """SIGTERM each worker; its last line reports its claims."""
    reports = []
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        found = STOPPED.search(out)
        if worker.returncode != 0 or not found:
            raise RuntimeError(f"a worker ended badly ({worker.returncode}):\n{out}")
        tasks, claims, seconds, waiting = found.groups()
        reports.append((int(tasks), int(claims), float(seconds), float(waiting)))
    return reports


def measure(
    database: SessionDatabase,
    fake: FakeOpenAI,
    workers: int,
    capacity: int,
    n: int,
    latency: float,
    c: int,
) -> Run:
    database.fresh()
    fake.max_in_flight = 0
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        env = settings_env(database, scratch, fake, c)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        running = start_workers(workers, capacity, env, scratch)
        try:
            cpu = time.process_time()
            asyncio.run(submit(env, n))
            wait_done(database, n, timeout=20 + 3 * n * latency / c)
            fake_cpu = time.process_time() - cpu
        finally:
            reports = stop(running)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the workers' whole lives, start-up included (imports and migrations: ~2.5 s each)
    worker_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    return Run(
        workers,
        capacity,
        n,
        latency,
        c,
        *timings(database),
        sum(r[0] for r in reports),
        (min(r[0] for r in reports), max(r[0] for r in reports)),
        sum(r[1] for r in reports),
        sum(r[2] for r in reports),
        sum(r[3] for r in reports),
        fake.max_in_flight,
        # everything this process did meanwhile: the fake, submitting, polling
        fake_cpu * 1000 / n,
        worker_cpu * 1000 / n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1200)
    parser.add_argument("--latency", type=float, default=0.4, help="seconds per call")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    database = SessionDatabase()
    try:
        with FakeOpenAI(API_KEY) as fake:
            fake.latency = args.latency
            print(f"load average at start: {os.getloadavg()}")
            print(HEADER)
            c = args.concurrency
            for count in args.workers:
                # The default capacity (100) lets one worker hold every slot of the global
                # limit; a capacity of c/workers spreads them, as a deployment would.
                for capacity in [100] if count == 1 else [100, -(-c // count)]:
                    run = measure(database, fake, count, capacity, args.n, args.latency, c)
                    print(run.row(), flush=True)
            print(f"load average at end: {os.getloadavg()}")
    finally:
        database.drop()


if __name__ == "__main__":
    main()
