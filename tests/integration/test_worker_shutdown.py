"""Stopping a worker: no new claims; running calls finish within the grace period, the rest
go back to the queue without spending an attempt; the workers table records the stop."""

from __future__ import annotations

import asyncio

from imagebatch.app import App
from imagebatch.providers.demo import DemoProvider
from tests.integration.helpers import prompts, submit
from tests.waiting import wait_until_async


async def wait_running(app: App, n: int) -> None:
    await wait_until_async(
        app.tasks.status_counts,
        lambda counts: counts["running"] >= n,
        awaiting=f"{n} tasks running",
    )


async def test_running_calls_finish_within_the_grace_period(app: App, demo: DemoProvider) -> None:
    demo.latency_ms = 300
    await submit(app, prompts(*[f"p{i}" for i in range(6)]))
    worker = app.worker(capacity=2, grace_seconds=5)
    stop = asyncio.Event()
    run = asyncio.create_task(app.run_worker(worker, stop))
    await wait_running(app, 2)
    stop.set()
    await asyncio.wait_for(run, 10)
    counts = await app.tasks.status_counts()
    assert counts["succeeded"] == 2 and counts["pending"] == 4 and counts["running"] == 0
    [info] = await app.workers.seen_since(app.clock().replace(year=2000))
    assert info.id == worker.id and info.stopped_at is not None and info.concurrency == 2


async def test_calls_longer_than_the_grace_period_go_back_to_the_queue(app: App) -> None:
    batch = await submit(app, prompts("[demo:hang] a", "[demo:hang] b"))
    worker = app.worker(grace_seconds=0.2)
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await wait_running(app, 2)
    stop.set()
    await asyncio.wait_for(run, 10)
    tasks = await app.tasks.page(batch.id)
    assert [(t.status.value, t.attempts) for t in tasks] == [("pending", 0), ("pending", 0)]
