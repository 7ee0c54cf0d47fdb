"""One attempt of a claimed task: wait for a call slot, call the provider, store the output,
record how the attempt ended (a success through the group commit; a failure or a retry at
once). The worker decides which tasks run; this is what running one means."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import timedelta
from typing import Protocol

from imagebatch.domain.attempts import AttemptEnd, AttemptOutcome
from imagebatch.domain.records import Task
from imagebatch.domain.retry import RetryPolicy
from imagebatch.domain.states import TaskStatus
from imagebatch.engine.clock import Clock
from imagebatch.engine.events import Output
from imagebatch.engine.outputs import OutputWriter
from imagebatch.engine.worker.calls import ProviderCaller
from imagebatch.errors import ProviderError
from imagebatch.providers.base import ProviderRequest, ProviderResult
from imagebatch.store.completions import Completion
from imagebatch.store.queue import QueueRepo


class AttemptHost(Protocol):
    """The worker running an attempt: what the attempt waits for, and what it reports."""

    async def call_slot(self, task: Task) -> None:
        """Until the task may call its provider."""

    def call_ended(self, task: Task, seconds: float | None) -> None:
        """The call is over (it took `seconds`, if the provider answered): its slot goes to
        the next task."""

    async def succeeded(self, done: Completion) -> int | None:
        """Record a success: its output image id, None if the task is no longer ours."""

    def changed(
        self, task: Task, status: TaskStatus, output: Output | None = None, **data: object
    ) -> None:
        """The task changed state (for listeners; `output`: a success's, in-process only)."""


class AttemptRunner:
    def __init__(
        self,
        worker_id: str,
        queue: QueueRepo,
        caller: ProviderCaller,
        outputs: OutputWriter,
        retry: RetryPolicy,
        clock: Clock,
        host: AttemptHost,
    ) -> None:
        self.worker_id = worker_id
        self.queue = queue
        self.caller = caller
        self.outputs = outputs
        self.retry = retry
        self.clock = clock
        self.host = host
        self._rng = random.Random()

    async def run(self, task: Task) -> None:
        started = time.perf_counter()
        try:
            request = await self.outputs.request_for(task)  # inputs load while we wait
            await self.host.call_slot(task)
            started = time.perf_counter()  # the attempt's latency counts from its call
            result = await self._call(task, request)
            task = self.outputs.with_seed_used(task, result)  # stamped and recorded with it
            image = await self.outputs.store(task, result)
        except ProviderError as error:
            await self._failed(task, error, _elapsed_ms(started))
            return
        end = AttemptEnd(
            AttemptOutcome.SUCCEEDED, _elapsed_ms(started), provider_request_id=result.request_id
        )
        image_id = await self.host.succeeded((task, image, end))
        if image_id is not None:
            output = self.outputs.recorded(task, image, image_id)
            self.host.changed(task, TaskStatus.SUCCEEDED, output, output_image_id=image_id)
        else:
            await self.outputs.discard_if_orphan(image)

    async def _call(self, task: Task, request: ProviderRequest) -> ProviderResult:
        started = time.perf_counter()
        try:
            result = await self.caller.call(task, request)
        except ProviderError:
            self.host.call_ended(task, None)
            raise
        self.host.call_ended(task, time.perf_counter() - started)
        return result

    async def _failed(self, task: Task, error: ProviderError, latency_ms: float) -> None:
        end = AttemptEnd(
            AttemptOutcome.FAILED,
            latency_ms,
            error_kind=error.kind,
            error_message=error.message,
            provider_request_id=error.request_id,
        )
        decision = self.retry.decide(error, task.attempts, self._rng, task.max_attempts)
        now = self.clock()
        if decision is None:
            if await self.queue.fail(task, self.worker_id, end, now):
                self.host.changed(
                    task, TaskStatus.FAILED, error=error.message, error_kind=error.kind
                )
            return
        end = replace(end, outcome=AttemptOutcome.RETRY)
        not_before = now + timedelta(seconds=decision.delay)
        if await self.queue.retry_later(task, self.worker_id, end, not_before, now):
            self.host.changed(
                task,
                TaskStatus.PENDING,
                error=error.message,
                error_kind=error.kind,
                retry_in=decision.delay,
            )


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
