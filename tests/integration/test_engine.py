"""The queue end to end with the demo provider: on SQLite and PostgreSQL, with the images in a
folder and in S3 (a real S3 server on loopback)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from imagebatch.app import App
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.engine.runtime import RuntimeSettingsUpdate
from imagebatch.imaging import provenance
from imagebatch.providers.base import ProviderRequest, ProviderResult
from imagebatch.providers.demo import DemoProvider
from tests.conftest import local_or_s3
from tests.integration.helpers import prompts, run_to_end, submit
from tests.waiting import wait_until_async


@pytest.fixture(params=["local", "s3"])
def blob_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    return local_or_s3(request)


async def test_batch_completes_and_outputs_carry_provenance(app: App) -> None:
    batch = await submit(app, prompts("a red fox", "a blue whale"))
    await run_to_end(app, [batch.id])

    done = await app.batches.get(batch.id)
    assert (done.status, done.succeeded, done.failed) == (BatchStatus.COMPLETED, 2, 0)
    tasks = await app.tasks.page(batch.id)
    image = await app.images.get(tasks[0].output_image_id or 0)
    info = provenance.read(await app.blobs.get(image.storage_key))
    assert info is not None
    assert (info["prompt"], info["provider"], info["batch_id"]) == ("a red fox", "demo", batch.id)
    # The outputs are in the configured store (S3: objects in the bucket, nothing on disk).
    outputs = [(await app.images.get(t.output_image_id or 0)).storage_key for t in tasks]
    assert sorted([key async for key in app.blobs.iter_keys()]) == sorted(outputs)
    assert app.settings.blob_dir.exists() is not bool(app.settings.storage_url)


async def test_concurrency_limit_is_never_exceeded_and_is_reached(
    app: App, demo: DemoProvider
) -> None:
    demo.latency_ms = 30
    batch = await submit(app, prompts(*(f"cat {i}" for i in range(24))))
    await run_to_end(app, [batch.id])  # global limit from settings: 3
    assert demo.max_in_flight == 3
    assert (await app.batches.get(batch.id)).succeeded == 24


async def test_a_call_slot_is_refilled_while_the_last_output_is_still_being_stored(
    app: App, demo: DemoProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit is on provider calls: the next call starts as soon as one ends, though the
    ended task's output is still being written (held here) and the task still running."""
    await app.runtime_settings.update(RuntimeSettingsUpdate(global_concurrency=1))
    release = threading.Event()
    put = app.blobs.put_blocking

    def held_put(key: str, data: bytes) -> None:
        release.wait(10)
        put(key, data)

    monkeypatch.setattr(app.blobs, "put_blocking", held_put)
    batch = await submit(app, prompts("first", "second", "third"))

    worker = asyncio.create_task(app.worker(batch_ids=[batch.id], drain=True).run())
    try:
        # every call made, no output stored yet
        await wait_until_async(lambda: demo.calls, lambda n: n >= 3, awaiting="three calls")
        assert demo.max_in_flight == 1
        assert (await app.batches.get(batch.id)).succeeded == 0
    finally:
        release.set()
    await asyncio.wait_for(worker, 20)
    assert (await app.batches.get(batch.id)).succeeded == 3
    assert demo.max_in_flight == 1


async def test_concurrency_changed_at_run_time_takes_effect(app: App, demo: DemoProvider) -> None:
    demo.latency_ms = 20
    await app.runtime_settings.update(RuntimeSettingsUpdate(global_concurrency=5))
    batch = await submit(app, prompts(*(f"dog {i}" for i in range(30))))
    await run_to_end(app, [batch.id])
    assert demo.max_in_flight == 5


async def test_per_provider_limit_applies(app: App, demo: DemoProvider) -> None:
    demo.latency_ms = 20
    app.settings.provider_concurrency = {"demo": 2}
    batch = await submit(app, prompts(*(f"owl {i}" for i in range(12))))
    await run_to_end(app, [batch.id], concurrency=10)
    assert demo.max_in_flight == 2


def record_calls(demo: DemoProvider) -> list[str]:
    """The prompts of the demo's calls, in the order the calls started."""
    prompts: list[str] = []
    generate = demo.generate

    async def recording(request: ProviderRequest) -> ProviderResult:
        prompts.append(request.asked.prompt)
        return await generate(request)

    demo.generate = recording  # type: ignore[method-assign]
    return prompts


async def test_owners_share_slots_round_robin(app: App, demo: DemoProvider) -> None:
    demo.latency_ms = 5
    calls = record_calls(demo)
    first = await submit(app, prompts(*(f"a{i}" for i in range(8))), owner="alice")
    second = await submit(app, prompts(*(f"b{i}" for i in range(4))), owner="bob")
    await run_to_end(app, [first.id, second.id], concurrency=1)

    # Calls, not claims: a claim may take a task ahead, to wait for the slot.
    order = [{"a": "alice", "b": "bob"}[prompt[0]] for prompt in calls]
    # bob arrived later with fewer tasks, yet alternates with alice until he has none left
    assert order[:8] == ["alice", "bob"] * 4
    assert order[8:] == ["alice"] * 4


async def test_priority_then_fifo_within_an_owner(app: App) -> None:
    low = await submit(app, prompts("low 1", "low 2"))
    high = await submit(app, prompts("high 1"), priority=5)
    await run_to_end(app, [low.id, high.id], concurrency=1)
    tasks = await app.tasks.page(low.id) + await app.tasks.page(high.id)
    order = [t.request.prompt for t in sorted(tasks, key=lambda t: t.started_at or t.id)]
    assert order == ["high 1", "low 1", "low 2"]


async def test_retryable_errors_are_retried_then_fail_with_message(app: App) -> None:
    batch = await submit(app, prompts("[demo:unavailable] flaky"))
    await run_to_end(app, [batch.id])
    [task] = await app.tasks.page(batch.id)
    attempts = await app.tasks.attempts_of(task.id)
    assert task.status is TaskStatus.FAILED
    assert [a["outcome"] for a in attempts] == ["retry", "retry", "failed"]
    assert task.error_kind == "ProviderUnavailable"
    assert (await app.batches.get(batch.id)).status is BatchStatus.COMPLETED_WITH_FAILURES


async def test_final_errors_are_not_retried_and_keep_the_message(app: App) -> None:
    batch = await submit(app, prompts("[demo:reject] forbidden", "fine"))
    await run_to_end(app, [batch.id])
    rejected, fine = await app.tasks.page(batch.id)
    assert rejected.status is TaskStatus.FAILED and rejected.attempts == 1
    assert rejected.error_kind == "ContentRejected"
    assert rejected.error_message and "demo" in rejected.error_message
    assert fine.status is TaskStatus.SUCCEEDED


async def test_retry_after_is_honoured(app: App) -> None:
    batch = await submit(app, prompts("[demo:ratelimit=30] busy"))
    worker = app.worker(batch_ids=[batch.id])
    await worker._fill()
    await asyncio.gather(*worker.jobs())
    [task] = await app.tasks.page(batch.id)
    due = await app.queue.next_due([batch.id], app.clock())
    assert task.status is TaskStatus.PENDING and task.error_kind == "RateLimited"
    assert due is not None and (due - app.clock()).total_seconds() > 29


async def test_retry_failed_tasks_of_a_batch(app: App, demo: DemoProvider) -> None:
    batch = await submit(app, prompts("[demo:invalid] once", "ok"))
    await run_to_end(app, [batch.id])
    assert (await app.batches.get(batch.id)).failed == 1

    assert await app.service.retry_failed(batch.id) == 1
    reopened = await app.batches.get(batch.id)
    assert (reopened.status, reopened.failed) == (BatchStatus.RUNNING, 0)
    await run_to_end(app, [batch.id])
    assert (await app.batches.get(batch.id)).failed == 1  # still invalid: fails again, once
    assert demo.calls == 3


async def test_reuse_takes_identical_outputs_without_calling(app: App, demo: DemoProvider) -> None:
    first = await submit(app, prompts("a lighthouse", "a harbour", seed=7))
    await run_to_end(app, [first.id])
    calls = demo.calls
    again = await submit(app, prompts("a lighthouse", "a harbour", seed=7), reuse=True)
    assert again.status is BatchStatus.COMPLETED and again.succeeded == 2
    assert demo.calls == calls
    old, new = await app.tasks.page(first.id), await app.tasks.page(again.id)
    assert [t.output_image_id for t in old] == [t.output_image_id for t in new]
    assert all(t.reused for t in new)


async def test_pause_stops_claims_and_resume_continues(app: App, demo: DemoProvider) -> None:
    batch = await submit(app, prompts("one", "two"))
    await app.service.pause(batch.id)
    worker = app.worker(batch_ids=[batch.id])
    await worker._fill()
    assert worker.running == 0 and demo.calls == 0
    await app.service.resume(batch.id)
    await run_to_end(app, [batch.id])
    assert (await app.batches.get(batch.id)).status is BatchStatus.COMPLETED


async def test_cancel_abandons_running_calls_and_starts_nothing_new(
    app: App, demo: DemoProvider
) -> None:
    batch = await submit(app, prompts("[demo:hang] slow", "[demo:hang] slow 2", "later"))
    worker = app.worker(batch_ids=[batch.id], concurrency=2, drain=True)
    running = asyncio.create_task(worker.run())
    await wait_until_async(
        lambda: demo.in_flight, lambda n: n >= 2, awaiting="both calls inside the provider"
    )
    await app.service.cancel(batch.id)
    await asyncio.wait_for(running, timeout=5)

    cancelled = await app.batches.get(batch.id)
    assert (cancelled.status, cancelled.cancelled) == (BatchStatus.CANCELLED, 3)
    assert demo.in_flight == 0 and demo.calls == 2
