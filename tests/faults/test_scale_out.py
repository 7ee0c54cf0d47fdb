"""Scale-out under faults: 4 `imagebatch worker` processes and an API server on PostgreSQL
and S3, 1,000 tasks against a fake OpenAI, while the test kills workers with SIGKILL, restarts
the API server and cuts every worker's database connections.

At the end, checked from the database and the bucket: every task ended, each succeeded task
has exactly one output, no object lacks its row and no row its object, the credit ledger
balances, and the fake never saw more calls at once than the global limit.

This test is long (about a minute) because its faults need time to matter: a killed worker's
tasks come back only when their leases run out, and 1,000 tasks at the global limit of 8 and
0.2 s a call take 25 s of calls alone. It is marked slow and has its own timeout.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Connection, func, select

from imagebatch.app import App, build_app
from imagebatch.config import Settings
from imagebatch.domain.accounts import Role
from imagebatch.domain.credits import to_micros
from imagebatch.store.claim import CLAIM_LOCK_KEY
from imagebatch.store.ledger import BatchCredits, batch_credits
from imagebatch.store.tables import attempts, images, tasks
from imagebatch.store.tables_accounts import users
from tests.fakes.openai_images import FakeOpenAI
from tests.faults.cluster import WORKER_APPLICATION, Cluster, child_env
from tests.services import S3Server, SessionDatabase, own_database_or_skip
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TASKS = 1000
WORKERS = 4
GLOBAL_LIMIT = 8
#: The fake's fixed latency is far below the lease: when a worker is killed mid-call, the
#: fake is still answering its abandoned request, and the task still counts as running in
#: the database until its lease runs out. Since a call ends within LATENCY and the lease lasts
#: LEASE_SECONDS, that request is over before the task can be claimed again, so the fake's
#: count of calls in flight must stay within the global limit even across kills.
LATENCY = 0.2
LEASE_SECONDS = 2.0
KILL_EVERY = 6.0
PRICE = 0.01
API_KEY = "sk-fault-test-0001"
DEADLINE = 180.0


@pytest.fixture
def database() -> Iterator[SessionDatabase]:
    """A database of this test's own: it cuts connections, which must hit nobody else."""
    own = own_database_or_skip()
    yield own
    own.drop()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(API_KEY) as server:
        server.latency = LATENCY
        # Like a real model's, every answer differs: so the output of a worker killed
        # between storing it and recording its task is an orphan, not a copy of the output
        # its task's next run stores under the same key.
        server.distinct_images = True
        yield server


@pytest.fixture
def settings(tmp_path: Path, database: SessionDatabase, s3: S3Server) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database.url,
        secret_key=Fernet.generate_key().decode(),
        **s3.settings(s3.new_bucket()),  # type: ignore[arg-type]
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    """The test's own view of the database and bucket, for setting up and checking."""
    built = await build_app(settings, providers={}, migrate=False)
    yield built
    await built.close()


@pytest.fixture
def cluster(tmp_path: Path, settings: Settings, fake: FakeOpenAI) -> Iterator[Cluster]:
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    s3_secret = settings.s3_secret_access_key
    env = child_env(
        {
            "IMAGEBATCH_DATA_DIR": str(settings.data_dir),
            "IMAGEBATCH_DATABASE_URL": settings.database_url,
            # every process must share one key (provider keys of users are sealed with it)
            "IMAGEBATCH_SECRET_KEY": secret,
            "IMAGEBATCH_STORAGE_URL": settings.storage_url,
            "IMAGEBATCH_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
            "IMAGEBATCH_S3_REGION": settings.s3_region or "",
            "IMAGEBATCH_S3_ACCESS_KEY_ID": settings.s3_access_key_id or "",
            "IMAGEBATCH_S3_SECRET_ACCESS_KEY": s3_secret.get_secret_value() if s3_secret else "",
            "IMAGEBATCH_OPENAI_API_KEY": API_KEY,
            "IMAGEBATCH_OPENAI_BASE_URL": fake.base_url,
            "IMAGEBATCH_CONCURRENCY": str(GLOBAL_LIMIT),
            "IMAGEBATCH_LEASE_SECONDS": str(LEASE_SECONDS),
            "IMAGEBATCH_PRICES": f'{{"openai/gpt-image-1": {PRICE}}}',
            "IMAGEBATCH_WORKER_GRACE_SECONDS": "5",
            "IMAGEBATCH_RETRY_BASE_DELAY": "0.1",
            "IMAGEBATCH_RETRY_MAX_DELAY": "0.5",
        }
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Cluster(env, logs, settings.database_url)
    yield running
    running.kill_all()


@dataclass
class Chaos:
    kills: int = 0
    cut_connections: int = 0
    api_restarted: bool = False
    orphans_swept: int = 0


async def test_workers_survive_kills_restarts_and_lost_connections(
    app: App, cluster: Cluster, database: SessionDatabase, fake: FakeOpenAI
) -> None:
    started = time.monotonic()
    alice = await app.accounts.create_user("alice", "alice-password", Role.USER, to_micros(15))
    _, token = await app.accounts.create_token(alice, "fault test")
    cluster.start_api()
    batch_id = create_batch(cluster.api_url, token)
    for _ in range(WORKERS):
        cluster.start_worker()

    chaos = run_chaos(cluster, database, token, batch_id)
    ended = cluster.stop()
    took = time.monotonic() - started
    # What the server's hourly sweep does once its grace is over; with every process
    # stopped, no object is waiting for its row, so no grace is needed.
    chaos.orphans_swept = await app.library.sweep_orphans(older_than=timedelta(0))
    print(f"\n{TASKS} tasks in {took:.1f} s; {chaos}; fake max in flight {fake.max_in_flight}")

    assert not cluster.died, "\n".join(f"{p.name}:\n{p.output()}" for p in cluster.died)
    for process, code in ended:
        assert code == 0, f"{process.name} exited with {code}:\n{process.output()}"
    for process in cluster.every_worker:  # a background loop of a worker died quietly
        assert "exception was never retrieved" not in process.output(), process.output()
    assert chaos.cut_connections >= WORKERS and chaos.api_restarted and chaos.kills >= 3
    await check_tasks(app, batch_id)
    await check_objects(app)
    await check_credits(app, batch_id)
    assert fake.max_in_flight <= GLOBAL_LIMIT


def create_batch(api_url: str, token: str) -> int:
    body = {
        "prompt": "a lighthouse, picture {n}",
        "variables": {"n": [str(n) for n in range(TASKS)]},
        "provider": "openai",
    }
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{api_url}/api/batches", json=body, headers=headers, timeout=60)
    assert created.status_code == 201, created.text
    assert created.json()["tasks"] == TASKS
    return int(created.json()["batch"]["id"])


def run_chaos(cluster: Cluster, database: SessionDatabase, token: str, batch_id: int) -> Chaos:
    """Until every task has ended: every KILL_EVERY s kill -9 a random busy worker, start a
    new one; cut the workers' connections once (at 20 % done) and restart the API server
    once (at 40 %)."""
    rng = random.Random()
    chaos = Chaos()
    deadline = time.monotonic() + DEADLINE
    next_kill = time.monotonic() + KILL_EVERY
    while (done := ended_tasks(database)) < TASKS:
        assert time.monotonic() < deadline, f"only {done} of {TASKS} tasks ended in time"
        cluster.check_workers_alive()
        if cluster.died:
            return chaos  # the assertions report it with the worker's output
        if not chaos.cut_connections and done >= TASKS * 0.2:
            chaos.cut_connections = cut_worker_connections(database)
        if not chaos.api_restarted and done >= TASKS * 0.4:
            cluster.restart_api()
            assert batch_status(cluster.api_url, token, batch_id) in ("running", "completed")
            chaos.api_restarted = True
        if time.monotonic() >= next_kill and cluster.kill_random_worker(rng, busy(database)):
            cluster.start_worker()
            chaos.kills += 1
            next_kill = time.monotonic() + KILL_EVERY
        time.sleep(0.1)  # pacing the chaos, not synchronising with it
    return chaos


def ended_tasks(database: SessionDatabase) -> int:
    with database.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM tasks WHERE status NOT IN ('pending', 'running')"
        ).fetchone()
    return int(row[0]) if row else 0


def busy(database: SessionDatabase) -> set[int]:
    """Process ids of the workers running tasks now (worker ids are host:pid:nonce)."""
    with database.connect() as conn:
        rows = conn.execute(
            "SELECT DISTINCT lease_owner FROM tasks WHERE status = 'running'"
        ).fetchall()
    return {int(str(owner).split(":")[1]) for (owner,) in rows if owner}


def cut_worker_connections(database: SessionDatabase) -> int:
    """pg_terminate_backend on every connection of every worker (by application_name).

    Idle pooled connections are replaced unnoticed (the pool pings them), so the cut is
    made while the workers are inside transactions: the test holds the claim lock until
    they queue for it in their claims and group commits, then cuts, then lets go."""
    with database.connect() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (CLAIM_LOCK_KEY,))
        try:
            wait_until(
                lambda: _waiting_for_claim_lock(conn),
                lambda waiting: waiting >= WORKERS,
                awaiting=f"{WORKERS} worker transactions queued for the claim lock",
                timeout=15,
                every=0.1,
            )
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = current_database()",
                (WORKER_APPLICATION,),
            ).fetchall()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (CLAIM_LOCK_KEY,))
    return sum(1 for (terminated,) in rows if terminated)


def _waiting_for_claim_lock(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid)"
        " WHERE locktype = 'advisory' AND NOT granted AND application_name = %s",
        (WORKER_APPLICATION,),
    ).fetchone()
    return int(row[0]) if row else 0


def batch_status(api_url: str, token: str, batch_id: int) -> str:
    answer = httpx.get(
        f"{api_url}/api/batches/{batch_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


async def check_tasks(app: App, batch_id: int) -> None:
    """Every task succeeded, through exactly one succeeded attempt, with its own output."""

    def work(conn: Connection) -> None:
        counted = conn.execute(select(tasks.c.status, func.count()).group_by(tasks.c.status))
        statuses = {status: n for status, n in counted.all()}  # noqa: C416
        failures = conn.execute(
            select(tasks.c.id, tasks.c.error_message).where(tasks.c.status != "succeeded")
        ).all()
        assert statuses == {"succeeded": TASKS}, (statuses, failures[:10])
        outputs = conn.execute(select(tasks.c.output_image_id)).scalars().all()
        assert None not in outputs and len(set(outputs)) == TASKS
        assert conn.execute(select(func.count()).select_from(images)).scalar() == TASKS
        wins = conn.execute(
            select(attempts.c.task_id, func.count())
            .where(attempts.c.outcome == "succeeded")
            .group_by(attempts.c.task_id)
        ).all()
        assert len(wins) == TASKS and {n for _, n in wins} == {1}
        lost = conn.execute(select(func.count()).where(attempts.c.outcome == "lost")).scalar()
        assert lost, "no task was ever lost to a killed worker: the kills tested nothing"

    await app.db.read(work)
    assert (await app.batches.get(batch_id)).status.value == "completed"


async def check_objects(app: App) -> None:
    """No orphan object, and no row without its object."""

    def keys(conn: Connection) -> set[str]:
        rows = conn.execute(select(images.c.storage_key, images.c.thumbnail_key)).all()
        return {key for row in rows for key in row if key}

    referenced = await app.db.read(keys)
    stored = {key async for key in app.blobs.iter_keys()}
    assert not stored - referenced, f"{len(stored - referenced)} orphan object(s)"
    assert not referenced - stored, f"{len(referenced - stored)} row(s) without their object"


async def check_credits(app: App, batch_id: int) -> None:
    def work(conn: Connection) -> tuple[BatchCredits, int]:
        balance = conn.execute(select(users.c.balance).where(users.c.name == "alice")).scalar()
        return batch_credits(conn, batch_id), int(balance or 0)

    credits, balance = await app.db.read(work)
    assert credits.balanced, credits
    assert credits.charged == TASKS * to_micros(PRICE) and credits.open == 0, credits
    assert balance == to_micros(15) - credits.charged
