"""Handing a finished provider batch job's results to its tasks.

The same transitions as the worker's, so credits, batch counters and webhooks behave alike:
an image is checked, stamped with provenance and stored, then its task succeeds (many per
transaction); a final error fails its task; a retryable one sends it back to the queue for a
later job (within its attempts); a task the job never answered (it expired or was
cancelled at the provider) goes back to the queue without spending an attempt; a failed job
counts as a retryable error for each of its tasks.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import timedelta

from imagebatch.domain.attempts import AttemptEnd, AttemptOutcome
from imagebatch.domain.events import EventKind
from imagebatch.domain.records import Task
from imagebatch.domain.retry import RetryPolicy
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.events import Event, EventBus
from imagebatch.engine.outputs import OutputWriter
from imagebatch.errors import ProviderError, ProviderUnavailable
from imagebatch.providers.base import JobState, ProviderResult
from imagebatch.store.completions import Completion
from imagebatch.store.provider_jobs import ProviderJob
from imagebatch.store.queue import QueueRepo

log = logging.getLogger(__name__)

#: successes recorded per transaction
COMMIT_EVERY = 100


class ResultSink:
    def __init__(
        self,
        queue: QueueRepo,
        outputs: OutputWriter,
        retry: RetryPolicy,
        events: EventBus,
        clock: Clock = utc_now,
    ) -> None:
        self.queue = queue
        self.outputs = outputs
        self.retry = retry
        self.events = events
        self.clock = clock
        self._rng = random.Random()

    async def collect(self, job: ProviderJob, state: JobState, tasks: Sequence[Task]) -> None:
        latency = self._latency(job)
        done: list[Completion] = []
        unanswered: list[Task] = []
        for task in tasks:
            outcome = state.results.get(str(task.id))
            if outcome is None and state.status == "failed":
                outcome = ProviderUnavailable(
                    f"{job.provider}: the batch job failed: {state.error or 'no reason given'}"
                )
            if isinstance(outcome, ProviderResult):
                # a job's results carry no request: the seed sent is derived from the task again
                task = self.outputs.with_seed_used(task, outcome)
                try:
                    image = await self.outputs.store(task, outcome)
                except ProviderError as error:
                    await self.failed(job, task, error)
                    continue
                end = AttemptEnd(AttemptOutcome.SUCCEEDED, latency, None, None, outcome.request_id)
                done.append((task, image, end))
            elif isinstance(outcome, ProviderError):
                await self.failed(job, task, outcome)
            else:
                unanswered.append(task)
        for start in range(0, len(done), COMMIT_EVERY):
            await self._succeed(job, done[start : start + COMMIT_EVERY])
        if unanswered:
            await self.queue.release([t.id for t in unanswered], job.owner, self.clock())
            for task in unanswered:
                self._publish(task, "pending", error=f"the provider's batch job {state.status}")

    async def fail_all(self, job: ProviderJob, tasks: Sequence[Task], error: ProviderError) -> None:
        for task in tasks:
            await self.failed(job, task, error)

    async def failed(self, job: ProviderJob, task: Task, error: ProviderError) -> None:
        latency = self._latency(job)
        end = AttemptEnd(
            AttemptOutcome.FAILED, latency, error.kind, error.message, error.request_id
        )
        decision = self.retry.decide(error, task.attempts, self._rng, task.max_attempts)
        now = self.clock()
        if decision is None:
            if await self.queue.fail(task, job.owner, end, now):
                self._publish(task, "failed", error=error.message, error_kind=error.kind)
            return
        end = AttemptEnd(AttemptOutcome.RETRY, latency, error.kind, error.message, error.request_id)
        not_before = now + timedelta(seconds=decision.delay)
        if await self.queue.retry_later(task, job.owner, end, not_before, now):
            self._publish(
                task, "pending", error=error.message, error_kind=error.kind, retry_in=decision.delay
            )

    async def _succeed(self, job: ProviderJob, items: list[Completion]) -> None:
        results, _ = await self.queue.succeed_many(job.owner, items, self.clock())
        for (task, image, _), image_id in zip(items, results, strict=True):
            if image_id is None:
                await self.outputs.discard_if_orphan(image)  # cancelled meanwhile
            else:
                self._publish(task, "succeeded", output_image_id=image_id)

    def _latency(self, job: ProviderJob) -> float:
        if job.created_at is None:
            return 0.0
        return max(0.0, (self.clock() - job.created_at).total_seconds() * 1000)

    def _publish(self, task: Task, status: str, **data: object) -> None:
        self.events.publish(
            Event(EventKind.TASK, batch_id=task.batch_id, task_id=task.id, status=status, data=data)
        )
