"""Events between processes through PostgreSQL LISTEN/NOTIFY: two Apps on one database
stand for two processes (an API server and a worker on another machine)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from imagebatch.app import App, build_app
from imagebatch.config import Settings
from imagebatch.engine.events import Event
from imagebatch.engine.relay import decode, encode
from imagebatch.providers.demo import DemoProvider
from tests.integration.helpers import prompts, submit
from tests.services import SessionDatabase
from tests.waiting import wait_until_async


@pytest.fixture
async def pair(postgres: SessionDatabase, tmp_path: Path) -> AsyncIterator[tuple[App, App]]:
    url = postgres.fresh()
    apps = []
    for name in ("api", "worker"):
        settings = Settings(data_dir=tmp_path / name, database_url=url, secret_key=None)
        apps.append(await build_app(settings, providers={"demo": DemoProvider()}))
    stop = asyncio.Event()
    relays = [relay for app in apps if (relay := app.relay()) is not None]
    runs = [asyncio.create_task(relay.run(stop)) for relay in relays]
    async with asyncio.timeout(10):
        for relay in relays:
            await relay.listening.wait()
    try:
        yield apps[0], apps[1]
    finally:
        stop.set()
        await asyncio.gather(*runs)
        for app in apps:
            await app.close()


async def next_event(queue: asyncio.Queue[Event], kind: str) -> Event:
    async with asyncio.timeout(5):
        while True:
            event = await queue.get()
            if event.kind == kind:
                return event


async def test_an_event_reaches_the_other_process_once(pair: tuple[App, App]) -> None:
    api, worker = pair
    async with worker.events.subscribe() as there, api.events.subscribe() as here:
        api.events.publish(Event("cancelled", batch_id=7, status="cancelled", data={"x": "雪"}))
        received = await next_event(there, "cancelled")
        assert received.remote and received.batch_id == 7 and received.data == {"x": "雪"}
        local = await next_event(here, "cancelled")
        assert not local.remote
        # Our own notification is not published here a second time: a later marker event
        # arrives after it would have, with nothing in between.
        worker.events.publish(Event("settings"))
        marker = await next_event(here, "settings")
        assert marker.remote and here.empty()


async def test_an_idle_worker_elsewhere_wakes_when_a_batch_is_submitted(
    pair: tuple[App, App],
) -> None:
    api, other = pair
    worker = other.worker()
    # Without the relay this worker would not look for work for a minute.
    worker.options = replace(worker.options, poll_seconds=60)
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(worker.idle.wait(), 10)
    batch = await submit(api, prompts("from another process"))
    # Bounded far below the worker's 60 s poll: only the relayed wake-up can make it in time.
    done = await wait_until_async(
        lambda: api.batches.get(batch.id),
        lambda found: found.status.value == "completed",
        awaiting="the batch to complete on the worker elsewhere",
        every=0.05,
    )
    stop.set()
    await run
    [task] = await api.tasks.page(batch.id)
    [attempt] = await api.tasks.attempts_of(task.id)
    assert (done.succeeded, attempt["worker_id"]) == (1, worker.id)


def test_large_event_lists_are_split_to_fit_a_notification() -> None:
    events = [Event("task", 1, i, "succeeded", {"prompt": "x" * 300}) for i in range(100)]
    payloads = encode("me", events)
    assert len(payloads) > 1 and all(len(p.encode()) <= 7900 for p in payloads)
    decoded = [e for p in payloads for e in decode(p, "someone else")]
    assert [e.task_id for e in decoded] == list(range(100)) and all(e.remote for e in decoded)
    assert decode(payloads[0], "me") == []
