"""Workers (and the economy runner) outlive their database connections being cut (a
failover, a restart, an admin's pg_terminate_backend): a claim, group commit, heartbeat or
round fails once, and they go on. PostgreSQL only: that is where connections are cut from outside.

Idle pooled connections are replaced unnoticed (the pool pings them before use), so each
test cuts while the worker is inside a transaction: it holds a lock the worker's transaction
is waiting for, cuts every other connection to the database, then lets go.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import psycopg
import pytest
from pydantic import SecretStr

from imagebatch.app import App, build_app
from imagebatch.config import Settings
from imagebatch.domain.states import TaskStatus
from imagebatch.providers.demo import DemoProvider
from imagebatch.providers.openai_batch import OpenAIBatchProvider
from imagebatch.store.claim import CLAIM_LOCK_KEY
from tests.fakes.openai_images import FakeOpenAI
from tests.integration.helpers import prompts, submit
from tests.services import SessionDatabase
from tests.waiting import wait_until_async

PgConn = psycopg.Connection[tuple[object, ...]]
KEY = "sk-test-key-0000"


@pytest.fixture
def database_url(postgres: SessionDatabase) -> str:
    return postgres.fresh()


async def one_waits_for_lock(conn: PgConn, locktype: str, who: str) -> None:
    await wait_until_async(
        lambda: waiting_for_locks(conn, locktype),
        lambda waiting: waiting == 1,
        awaiting=f"{who} waiting for a {locktype} lock",
        every=0.02,
    )


def waiting_for_locks(conn: PgConn, locktype: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid)"
        " WHERE NOT granted AND locktype = %s AND datname = current_database()",
        (locktype,),
    ).fetchone()
    return int(row[0]) if row else 0


def cut_other_connections(conn: PgConn, but: PgConn | None = None) -> int:
    """Cut every connection to the database except `conn` and `but`."""
    spared = (but or conn).info.backend_pid
    rows = conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND pid <> %s",
        (spared,),
    ).fetchall()
    return sum(1 for (cut,) in rows if cut)


async def test_a_claim_cut_short_costs_one_round_not_the_worker(
    app: App, demo: DemoProvider, postgres: SessionDatabase
) -> None:
    demo.latency_ms = 50
    batch = await submit(app, prompts(*[f"p{i}" for i in range(4)]))
    worker = app.worker(batch_ids=[batch.id], drain=True)
    with postgres.connect() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (CLAIM_LOCK_KEY,))
        run = asyncio.create_task(worker.run())
        await one_waits_for_lock(conn, "advisory", "the first claim")
        assert cut_other_connections(conn) >= 1
        conn.execute("SELECT pg_advisory_unlock(%s)", (CLAIM_LOCK_KEY,))
    await asyncio.wait_for(run, 10)  # before the fix, run() raised OperationalError
    assert (await app.tasks.status_counts())[TaskStatus.SUCCEEDED] == 4


async def test_results_survive_a_group_commit_cut_short(
    app: App, demo: DemoProvider, postgres: SessionDatabase
) -> None:
    demo.latency_ms = 300
    batch = await submit(app, prompts("first", "second"))
    worker = app.worker(batch_ids=[batch.id], drain=True, capacity=1)
    run = asyncio.create_task(worker.run())
    with postgres.connect() as conn:
        await wait_until_async(lambda: demo.in_flight, lambda n: n == 1, awaiting="one call")
        # The call ends meanwhile; its group commit (which claims the next task in the same
        # transaction) queues for the claim lock.
        conn.execute("SELECT pg_advisory_lock(%s)", (CLAIM_LOCK_KEY,))
        await one_waits_for_lock(conn, "advisory", "the group commit")
        assert cut_other_connections(conn) >= 1
        conn.execute("SELECT pg_advisory_unlock(%s)", (CLAIM_LOCK_KEY,))
    # Before the fix the result was lost: the task stayed leased, so this waited a minute.
    await asyncio.wait_for(run, 10)
    for task in await app.tasks.page(batch.id):
        assert task.status is TaskStatus.SUCCEEDED
        outcomes = [a["outcome"] for a in await app.tasks.attempts_of(task.id)]
        assert outcomes == ["succeeded"]  # the first call's result was kept, not redone


async def test_a_heartbeat_cut_short_is_followed_by_the_next(
    settings: Settings, postgres: SessionDatabase
) -> None:
    quick = settings.model_copy(update={"lease_seconds": 3.0})  # a beat every second
    app = await build_app(quick, providers={"demo": DemoProvider()})
    stop = asyncio.Event()
    try:
        batch = await submit(app, prompts("[demo:hang] forever"))
        worker = app.worker(batch_ids=[batch.id])
        run = asyncio.create_task(worker.run(stop))
        await wait_until_async(lambda: worker.running, lambda n: n == 1, awaiting="one running")
        [task] = await app.tasks.page(batch.id)
        with postgres.connect() as locker, postgres.connect() as conn, locker.transaction():
            # Holding the task's row makes the next heartbeat wait: then it is cut. (Watched
            # from another connection: a transaction sees pg_stat_activity as it first was.)
            locker.execute("SELECT id FROM tasks WHERE id = %s FOR UPDATE", (task.id,))
            await one_waits_for_lock(conn, "transactionid", "the heartbeat")
            assert cut_other_connections(conn, but=locker) >= 1
        cut_at = lease_until(postgres, task.id)
        await wait_until_async(
            lambda: lease_until(postgres, task.id),
            lambda until: until > cut_at,
            awaiting=f"the lease renewed after {cut_at}",
            timeout=5,
            every=0.02,
        )
        # Renewed by the next beat, in time. Before the fix the heartbeat loop had died: the
        # lease ran out, and the task went back to the queue, its attempt lost.
        assert [a["outcome"] for a in await app.tasks.attempts_of(task.id)] == [None]
        assert worker.running == 1
        stop.set()
        await asyncio.wait_for(run, 10)
    finally:
        await app.close()


def lease_until(postgres: SessionDatabase, task_id: int) -> datetime:
    with postgres.connect() as conn:
        row = conn.execute(
            "SELECT lease_until FROM tasks WHERE id = %s AND status = 'running'", (task_id,)
        ).fetchone()
    assert row is not None and isinstance(row[0], datetime)
    return row[0]


async def test_the_economy_runner_outlives_a_cut_connection(
    settings: Settings, postgres: SessionDatabase
) -> None:
    with FakeOpenAI(KEY) as fake:
        providers = {"openai": OpenAIBatchProvider(SecretStr(KEY), fake.base_url, 10.0)}
        quick = settings.model_copy(update={"economy_poll_seconds": 0.01})
        app = await build_app(quick, providers=providers)
        try:
            batch = await submit(app, prompts("a", "b"), provider="openai", economy=True)
            runner = app.economy_runner(batch_ids=[batch.id], drain=True)
            with postgres.connect() as locker, postgres.connect() as conn, locker.transaction():
                # The runner's first look at its jobs waits for the table: then it is cut.
                locker.execute("LOCK TABLE provider_jobs IN ACCESS EXCLUSIVE MODE")
                run = asyncio.create_task(runner.run())
                await one_waits_for_lock(conn, "relation", "the economy runner")
                assert cut_other_connections(conn, but=locker) >= 1
            await asyncio.wait_for(run, 10)  # before the fix, run() raised OperationalError
            tasks = await app.tasks.page(batch.id)
            assert [t.status for t in tasks] == [TaskStatus.SUCCEEDED] * 2
        finally:
            await app.close()
