"""Economy mode end to end: real SQLite, the real OpenAI provider, the wire-faithful fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
from pydantic import SecretStr

from imagebatch.app import App, build_app
from imagebatch.config import Settings
from imagebatch.domain.claims import ClaimLimits, ClaimRequest
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.errors import InputError
from imagebatch.imaging import provenance
from imagebatch.providers.base import JobState, ProviderRequest, SubmittedJob
from imagebatch.providers.demo import DemoProvider
from imagebatch.providers.openai_batch import OpenAIBatchProvider
from tests.fakes.openai_images import FakeOpenAI
from tests.integration.helpers import prompts, submit

KEY = "sk-test-key-0000"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(KEY) as server:
        server.batches.polls_to_finish = None  # the tests say when jobs finish
        yield server


@pytest.fixture
async def app(tmp_path: Path, fake: FakeOpenAI) -> AsyncIterator[App]:
    settings = Settings(
        data_dir=tmp_path / "data",
        retry_base_delay=0.0,
        retry_max_delay=0.0,
        # Jobs are due again at once: the tests step the runner by hand, back to back.
        economy_poll_seconds=1e-6,
    )
    providers = {
        "openai": OpenAIBatchProvider(SecretStr(KEY), fake.base_url, 10.0),
        "demo": DemoProvider(),
    }
    built = await build_app(settings, providers=providers)
    yield built
    await built.close()


async def economy_batch(app: App, *texts: str) -> int:
    batch = await submit(app, prompts(*texts), provider="openai", economy=True)
    return batch.id


async def statuses(app: App, batch_id: int) -> dict[str, TaskStatus]:
    tasks = await app.tasks.page(batch_id=batch_id)
    return {t.request.prompt: t.status for t in tasks}


async def test_an_economy_batch_runs_as_one_provider_job(app: App, fake: FakeOpenAI) -> None:
    batch_id = await economy_batch(app, "a fox", "an owl", "a cat")
    # A normal worker never touches it.
    nothing = await app.queue.claim("w", ClaimRequest(ClaimLimits(10), 10, 60), app.clock())
    assert nothing.tasks == []
    fake.batches.polls_to_finish = 2
    await asyncio.wait_for(app.economy_runner(batch_ids=[batch_id], drain=True).run(), 10)
    batch = await app.batches.get(batch_id)
    assert batch.status is BatchStatus.COMPLETED and batch.succeeded == 3
    [job] = fake.batches.created
    assert job["endpoint"] == "/v1/images/generations" and job["request_counts"]["total"] == 3
    [row] = await app.provider_jobs.of_batch(batch_id)
    assert row.status == "succeeded" and len(row.task_ids) == 3 and KEY not in (row.key_ref or "")
    task = (await app.tasks.page(batch_id=batch_id))[0]
    assert task.output_image_id is not None
    image = await app.images.get(task.output_image_id)
    stamped = provenance.read(await app.blobs.get(image.storage_key))
    assert stamped is not None
    assert stamped["batch_id"] == batch_id and stamped["provider"] == "openai"
    assert fake.batches.files == {}  # input and output files deleted once recorded


async def test_item_failures_fail_or_retry_in_a_later_job(app: App, fake: FakeOpenAI) -> None:
    batch_id = await economy_batch(app, "fine", "bad [moderation]", "flaky [server-error]")
    fake.batches.polls_to_finish = 1
    await asyncio.wait_for(app.economy_runner(batch_ids=[batch_id], drain=True).run(), 10)
    tasks = {t.request.prompt: t for t in await app.tasks.page(batch_id=batch_id)}
    assert tasks["fine"].status is TaskStatus.SUCCEEDED
    assert tasks["bad [moderation]"].status is TaskStatus.FAILED
    assert tasks["bad [moderation]"].attempts == 1
    assert tasks["bad [moderation]"].error_kind == "ContentRejected"
    flaky = tasks["flaky [server-error]"]
    assert flaky.status is TaskStatus.FAILED and flaky.attempts == 3  # max_attempts
    assert len(fake.batches.created) == 3  # the retryable one went again, twice
    jobs = await app.provider_jobs.of_batch(batch_id)
    assert [len(j.task_ids) for j in jobs] == [3, 1, 1]
    batch = await app.batches.get(batch_id)
    assert (batch.succeeded, batch.failed, batch.status) == (
        1,
        2,
        BatchStatus.COMPLETED_WITH_FAILURES,
    )


async def test_an_expired_job_keeps_its_answers_and_resubmits_the_rest(
    app: App, fake: FakeOpenAI
) -> None:
    batch_id = await economy_batch(app, "one", "two")
    runner = app.economy_runner(batch_ids=[batch_id])
    await runner.step()
    fake.batches.expire_jobs(done=1)
    await runner.step()  # collects the answer; the other task goes into a new job
    got = await statuses(app, batch_id)
    assert got == {"one": TaskStatus.SUCCEEDED, "two": TaskStatus.RUNNING}
    assert len(fake.batches.created) == 2
    two = next(t for t in await app.tasks.page(batch_id=batch_id) if t.request.prompt == "two")
    assert two.attempts == 1  # an expired job is not the request's fault: no attempt spent
    attempts = await app.tasks.attempts_of(two.id)
    assert [a["outcome"] for a in attempts] == ["released", None]
    fake.batches.finish_jobs()
    await runner.step()
    assert (await app.batches.get(batch_id)).status is BatchStatus.COMPLETED


class Crash(Exception):
    """The process dies here."""


class CrashingProvider(OpenAIBatchProvider):
    """Dies right after the provider created the job (or right before), as a kill would."""

    crash_after_submit = True

    async def submit_batch(
        self, items: Sequence[tuple[str, ProviderRequest]], marker: str
    ) -> SubmittedJob:
        if self.crash_after_submit:
            await super().submit_batch(items, marker)
        raise Crash


@pytest.mark.parametrize("submitted", [True, False])
async def test_a_job_lost_in_a_crash_is_found_by_its_marker_or_submitted(
    app: App, fake: FakeOpenAI, submitted: bool
) -> None:
    batch_id = await economy_batch(app, "one", "two")
    crashing = CrashingProvider(SecretStr(KEY), fake.base_url, 10.0)
    crashing.crash_after_submit = submitted
    dead = app.economy_runner(batch_ids=[batch_id])
    dead.providers = {"openai": crashing}
    with pytest.raises(Crash):
        await dead.step()
    await crashing.aclose()
    [job] = await app.provider_jobs.unfinished([batch_id])
    assert job.status == "submitting" and job.external_id is None
    assert len(fake.batches.created) == int(submitted)
    heir = app.economy_runner(batch_ids=[batch_id], is_dead=lambda runner: runner == dead.id)
    await heir.step()  # takes the job over: finds it by marker, or submits it now
    assert len(fake.batches.created) == 1
    recorded = await app.provider_jobs.get(job.id)
    assert recorded.status == "running" and recorded.external_id == fake.batches.created[0]["id"]
    fake.batches.finish_jobs()
    await heir.step()
    assert (await app.batches.get(batch_id)).status is BatchStatus.COMPLETED
    tasks = await app.tasks.page(batch_id=batch_id)
    assert all(t.attempts == 1 for t in tasks)


async def test_cancelling_the_batch_cancels_the_provider_job(app: App, fake: FakeOpenAI) -> None:
    batch_id = await economy_batch(app, "one", "two")
    runner = app.economy_runner(batch_ids=[batch_id])
    await runner.step()
    [job] = await app.provider_jobs.unfinished([batch_id])
    await app.service.cancel(batch_id)
    await runner.check_jobs()
    # (deleting its files afterwards reads the job, and the fake moves it on when read)
    assert fake.batches.created[0]["status"] in ("cancelling", "cancelled")
    assert fake.batches.files == {}  # the uploaded requests, deleted
    assert (await app.provider_jobs.get(job.id)).status == "cancelled"
    assert await app.provider_jobs.unfinished([batch_id]) == []
    assert (await app.batches.get(batch_id)).cancelled == 2


async def test_a_provider_without_batch_jobs_is_refused(app: App) -> None:
    with pytest.raises(InputError) as caught:
        await submit(app, prompts("x"), provider="demo", economy=True)
    [issue] = caught.value.issues
    assert issue.where == "provider demo" and "batch jobs" in issue.problem
    assert "openai" in issue.hint


def test_job_state_finished() -> None:
    assert JobState("expired").finished and not JobState("running").finished
