"""Tasks claimed ahead of a free slot: they never raise the calls above the limit, take a slot
the moment one frees, and go back to the queue, no attempt spent, on a pause or a stop."""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection, func, select

from imagebatch.app import App
from imagebatch.domain.states import TaskStatus
from imagebatch.providers.base import ProviderRequest, ProviderResult
from imagebatch.providers.demo import DemoProvider
from imagebatch.store.tables import tasks
from tests.integration.helpers import prompts, submit


def count_running(conn: Connection) -> int:
    query = select(func.count()).where(tasks.c.status == TaskStatus.RUNNING.value)
    return int(conn.execute(query).scalar_one())


class HeldCalls:
    """Wraps the demo's calls: records them, and holds each until `release` is set."""

    def __init__(self, demo: DemoProvider) -> None:
        self.prompts: list[str] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self._generate = demo.generate
        demo.generate = self._held  # type: ignore[method-assign]

    async def _held(self, request: ProviderRequest) -> ProviderResult:
        self.prompts.append(request.asked.prompt)
        self.entered.set()
        await self.release.wait()
        return await self._generate(request)


async def test_tasks_claimed_ahead_take_freed_slots_and_never_add_calls(
    app: App, demo: DemoProvider
) -> None:
    demo.latency_ms = 20
    running_at_call: list[int] = []
    generate = demo.generate

    async def counting(request: ProviderRequest) -> ProviderResult:
        running_at_call.append(await app.db.read(count_running))
        return await generate(request)

    demo.generate = counting  # type: ignore[method-assign]
    batch = await submit(app, prompts(*(f"tile {i}" for i in range(12))))
    worker = app.worker(batch_ids=[batch.id], concurrency=2, drain=True, claim_ahead=2)
    await asyncio.wait_for(worker.run(), timeout=20)

    assert (await app.batches.get(batch.id)).succeeded == 12
    assert demo.max_in_flight == 2
    assert max(running_at_call) > 2  # more tasks leased than calling: some waited
    assert {t.attempts for t in await app.tasks.page(batch.id)} == {1}


async def test_a_pause_hands_the_tasks_claimed_ahead_back(app: App, demo: DemoProvider) -> None:
    calls = HeldCalls(demo)
    batch = await submit(app, prompts("a", "b", "c", "d"))
    worker = app.worker(batch_ids=[batch.id], concurrency=1, claim_ahead=2)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(calls.entered.wait(), timeout=5)  # "a" calls, "b" and "c" wait
        async with app.events.subscribe() as events:
            await app.service.pause(batch.id)
            handed_back = set()
            while len(handed_back) < 2:
                event = await asyncio.wait_for(events.get(), timeout=5)
                if event.kind == "task" and event.status == "pending":
                    handed_back.add(event.task_id)
        calls.release.set()
        await asyncio.wait_for(_until_status(app, batch.id, "a", TaskStatus.SUCCEEDED), 5)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=5)

    assert calls.prompts == ["a"]  # the paused batch's tasks claimed ahead never called
    by_prompt = {t.request.prompt: t for t in await app.tasks.page(batch.id)}
    assert {p: t.status for p, t in by_prompt.items()} == {
        "a": TaskStatus.SUCCEEDED,
        "b": TaskStatus.PENDING,
        "c": TaskStatus.PENDING,
        "d": TaskStatus.PENDING,
    }
    assert handed_back == {by_prompt["b"].id, by_prompt["c"].id}
    assert (by_prompt["b"].attempts, by_prompt["c"].attempts) == (0, 0)


async def test_a_stop_hands_the_tasks_claimed_ahead_back_at_once(
    app: App, demo: DemoProvider
) -> None:
    calls = HeldCalls(demo)
    batch = await submit(app, prompts("a", "b", "c"))
    worker = app.worker(batch_ids=[batch.id], concurrency=1, claim_ahead=2, grace_seconds=5)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(calls.entered.wait(), timeout=5)
    stop.set()
    # The grace period is for calls in flight: the waiting tasks go back before it starts.
    await asyncio.wait_for(_until_status(app, batch.id, "b", TaskStatus.PENDING), 5)
    calls.release.set()
    await asyncio.wait_for(running, timeout=5)

    assert calls.prompts == ["a"]
    by_prompt = {t.request.prompt: t for t in await app.tasks.page(batch.id)}
    assert by_prompt["a"].status is TaskStatus.SUCCEEDED
    assert by_prompt["c"].status is TaskStatus.PENDING and by_prompt["c"].attempts == 0


async def test_a_cancel_reaches_the_tasks_claimed_ahead(app: App, demo: DemoProvider) -> None:
    calls = HeldCalls(demo)
    batch = await submit(app, prompts("a", "b", "c"))
    worker = app.worker(batch_ids=[batch.id], concurrency=1, claim_ahead=2, drain=True)
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(calls.entered.wait(), timeout=5)
    await app.service.cancel(batch.id)
    await asyncio.wait_for(running, timeout=5)  # drained: nothing left to run

    assert calls.prompts == ["a"]
    assert {t.status for t in await app.tasks.page(batch.id)} == {TaskStatus.CANCELLED}
    assert worker.running == 0


async def _until_status(app: App, batch_id: int, prompt: str, status: TaskStatus) -> None:
    """Until the task with this prompt has this status, told by the task events."""
    async with app.events.subscribe() as events:
        while True:
            [task] = [t for t in await app.tasks.page(batch_id) if t.request.prompt == prompt]
            if task.status is status:
                return
            await events.get()
