"""Registered workers share the global limit: each claims at most its fair share, so one
worker's group commit cannot keep every slot to itself."""

from __future__ import annotations

import asyncio

from imagebatch.app import App
from imagebatch.providers.demo import DemoProvider
from imagebatch.store.workers import WorkerInfo
from tests.integration.helpers import prompts, submit
from tests.waiting import wait_until_async


async def register(app: App, worker_id: str) -> None:
    now = app.clock()
    info = WorkerInfo(worker_id, "elsewhere", 1, 100, 0, "test", now, now)
    await app.workers.register(info)


async def succeeded(app: App, n: int) -> None:
    await wait_until_async(
        app.tasks.status_counts,
        lambda counts: counts["succeeded"] >= n,
        awaiting=f"{n} tasks succeeded",
        every=0.02,
    )


async def test_a_registered_worker_takes_its_share_of_the_global_limit(
    app: App, demo: DemoProvider
) -> None:
    demo.latency_ms = 200
    await submit(app, prompts(*[f"p{i}" for i in range(12)]))
    await register(app, "other-worker")  # a second live worker, registered elsewhere
    worker = app.worker(fair_share=True)  # global limit 3 in the test settings
    stop = asyncio.Event()
    run = asyncio.create_task(app.run_worker(worker, stop))
    await succeeded(app, 12)
    stop.set()
    await run
    # Two live workers, a limit of 3: at most 2 each (3 / 2, rounded up), never all 3.
    assert demo.max_in_flight == 2


async def test_unregistered_workers_use_the_whole_limit(app: App, demo: DemoProvider) -> None:
    demo.latency_ms = 200
    await submit(app, prompts(*[f"p{i}" for i in range(6)]))
    worker = app.worker()
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await succeeded(app, 6)
    stop.set()
    await run
    assert demo.max_in_flight == 3
