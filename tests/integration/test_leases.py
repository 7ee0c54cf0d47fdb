"""A worker that dies mid-task: its lease expires, another worker finishes the task once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from imagebatch.app import build_app
from imagebatch.config import Settings
from imagebatch.domain.attempts import AttemptEnd, AttemptOutcome
from imagebatch.domain.claims import ClaimRequest
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.providers.demo import DemoProvider
from imagebatch.store.images import NewImage
from tests.conftest import ManualClock
from tests.integration.helpers import prompts, run_to_end, submit
from tests.waiting import wait_until_async


async def test_expired_lease_is_recovered_and_completed_exactly_once(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, lease_seconds=60)
    clock = ManualClock()
    stuck_provider = DemoProvider(latency_ms=3_600_000)  # the "dying" worker never returns
    dying = await build_app(settings, providers={"demo": stuck_provider}, clock=clock)
    healthy = await build_app(settings, providers={"demo": DemoProvider()}, clock=clock)
    try:
        batch = await submit(dying, prompts("a kite"))
        first = dying.worker(batch_ids=[batch.id])
        await first._fill()
        [claimed] = await dying.tasks.page(batch.id)
        await wait_until_async(lambda: stuck_provider.in_flight, awaiting="the call to start")
        assert claimed.status is TaskStatus.RUNNING and claimed.lease_owner == first.id

        clock.advance(61)  # no heartbeat for longer than the lease: presumed dead
        await run_to_end(healthy, [batch.id])

        [task] = await healthy.tasks.page(batch.id)
        assert task.status is TaskStatus.SUCCEEDED and task.attempts == 1
        outcomes = [a["outcome"] for a in await healthy.tasks.attempts_of(task.id)]
        assert outcomes == ["lost", "succeeded"]
        assert (await healthy.batches.get(batch.id)).succeeded == 1

        # The first worker wakes up: its heartbeat finds the task gone and abandons the call…
        await first.check_leases()
        await wait_until_async(
            lambda: stuck_provider.in_flight, lambda n: n == 0, awaiting="the call abandoned"
        )
        # …and a late result from it matches no row: nothing is committed twice.
        late = NewImage("0" * 64, "image/png", 1, 1, 1, "late.png", "output")
        end = AttemptEnd(AttemptOutcome.SUCCEEDED, 1.0)
        assert not await dying.queue.succeed(claimed, first.id, late, end, clock())
        final = await healthy.batches.get(batch.id)
        assert (final.status, final.succeeded) == (BatchStatus.COMPLETED, 1)
        assert not await healthy.images.referenced("0" * 64)
    finally:
        await dying.close()
        await healthy.close()


async def test_task_that_keeps_losing_workers_fails(tmp_path: Path, database_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, lease_seconds=10)
    clock = ManualClock()
    provider = DemoProvider(latency_ms=3_600_000)
    app = await build_app(settings, providers={"demo": provider}, clock=clock)
    try:
        batch = await submit(app, prompts("poison"))
        for _ in range(5):
            worker = app.worker(batch_ids=[batch.id])
            await worker._fill()
            clock.advance(11)
            for job in worker.jobs():
                job.cancel()
        limits = await app.worker().limits.current()
        await app.queue.claim("reaper", ClaimRequest(limits, 1, 10), clock())
        [task] = await app.tasks.page(batch.id)
        assert task.status is TaskStatus.FAILED and task.error_kind == "WorkerLost"
    finally:
        await app.close()


async def test_a_worker_that_slept_through_its_lease_gives_the_call_up_before_claiming(
    tmp_path: Path, database_url: str
) -> None:
    """A laptop asleep for an hour: on waking, the worker's own next claim would reap the task
    and take it again under the same worker id, and the old call's late result would then
    match the new lease. The old call is abandoned first, so only the new one runs."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, lease_seconds=60)
    clock = ManualClock()
    provider = DemoProvider(latency_ms=3_600_000)
    app = await build_app(settings, providers={"demo": provider}, clock=clock)
    try:
        batch = await submit(app, prompts("a kite"))
        worker = app.worker(batch_ids=[batch.id])
        await worker._fill()
        [first_call] = worker.jobs()
        await wait_until_async(lambda: provider.in_flight, awaiting="the first call to start")

        clock.advance(61)  # no heartbeat for longer than the lease
        await worker._fill()  # reaps its own expired lease and claims the task again
        await asyncio.gather(first_call, return_exceptions=True)
        assert first_call.cancelled()
        await wait_until_async(lambda: provider.in_flight, awaiting="the new call to start")
        assert (provider.in_flight, worker.running) == (1, 1)
        [task] = await app.tasks.page(batch.id)
        outcomes = [a["outcome"] for a in await app.tasks.attempts_of(task.id)]
        assert outcomes == ["lost", None]
    finally:
        await app.close()


async def test_a_group_commit_records_the_tasks_still_ours_and_nothing_of_a_lost_one(
    tmp_path: Path, database_url: str
) -> None:
    """One transaction for several ends: the task given back meanwhile gets no output and
    leaves no image row; two ends with the same content share one image row."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    clock = ManualClock()
    app = await build_app(settings, providers={"demo": DemoProvider()}, clock=clock)
    try:
        batch = await submit(app, prompts("a", "b", "c"))
        worker = app.worker(batch_ids=[batch.id])
        request = ClaimRequest(await worker.limits.current(), 3, 60)
        claimed = await app.queue.claim(worker.id, request, clock())
        first, lost, third = claimed.tasks
        assert await app.queue.release([lost.id], worker.id, clock()) == 1
        same = NewImage("1" * 64, "image/png", 1, 1, 1, "same.png", "output")
        orphan = NewImage("2" * 64, "image/png", 1, 1, 1, "orphan.png", "output")
        end = AttemptEnd(AttemptOutcome.SUCCEEDED, 1.0, provider_request_id="req-1")
        items = [(first, same, end), (lost, orphan, end), (third, same, end)]

        results, _ = await app.queue.succeed_many(worker.id, items, clock())

        assert results[0] is not None and results[0] == results[2] and results[1] is None
        assert not await app.images.referenced("2" * 64)
        by_id = {t.id: t for t in await app.tasks.page(batch.id)}
        assert [by_id[t.id].status for t in (first, lost, third)] == [
            TaskStatus.SUCCEEDED,
            TaskStatus.PENDING,
            TaskStatus.SUCCEEDED,
        ]
        assert by_id[third.id].output_image_id == results[0]
        [attempt] = await app.tasks.attempts_of(third.id)
        assert (attempt["outcome"], attempt["provider_request_id"]) == ("succeeded", "req-1")
        assert (await app.batches.get(batch.id)).succeeded == 2
    finally:
        await app.close()
