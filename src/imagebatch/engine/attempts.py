"""One attempt of a claimed task: wait for a call slot, call the provider, store the output,
record how the attempt ended (a success through the group commit; a failure or a retry at
once). The worker decides which tasks run; this is what running one means."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from imagebatch.domain.records import Task
from imagebatch.domain.retry import RetryPolicy
from imagebatch.engine.call_gate import Slots
from imagebatch.engine.calls import ProviderCaller
from imagebatch.engine.clock import Clock
from imagebatch.engine.outputs import OutputWriter
from imagebatch.errors import ProviderError
from imagebatch.providers.base import ProviderRequest, ProviderResult
from imagebatch.store.completions import Completion
from imagebatch.store.queue import QueueRepo
from imagebatch.store.transitions import AttemptEnd

#: tells listeners a task changed state: (task, status, extra data)
Publish = Callable[..., None]


class AttemptRunner:
    def __init__(
        self,
        worker_id: str,
        queue: QueueRepo,
        caller: ProviderCaller,
        outputs: OutputWriter,
        retry: RetryPolicy,
        slots: Slots,
        clock: Clock,
        *,
        commit: Callable[[Completion], Awaitable[int | None]],
        call_over: Callable[[Task], None],
        publish: Publish,
    ) -> None:
        self.worker_id = worker_id
        self.queue = queue
        self.caller = caller
        self.outputs = outputs
        self.retry = retry
        self.slots = slots
        self.clock = clock
        #: records a success (the group commit): its output image id, None if lost
        self._commit = commit
        #: told the moment the call ends, so its slot goes to the next task
        self._call_over = call_over
        self._publish = publish
        self._rng = random.Random()

    async def run(self, task: Task) -> None:
        started = time.perf_counter()
        try:
            request = await self.outputs.request_for(task)  # inputs load while we wait
            await self.slots.gate.wait(task.id)
            started = time.perf_counter()  # the attempt's latency counts from its call
            result = await self._call(task, request)
            task = self.outputs.with_seed_used(task, result)  # stamped and recorded with it
            image = await self.outputs.store(task, result)
        except ProviderError as error:
            await self._failed(task, error, _elapsed_ms(started))
            return
        end = AttemptEnd("succeeded", _elapsed_ms(started), provider_request_id=result.request_id)
        image_id = await self._commit((task, image, end))
        if image_id is not None:
            self._publish(task, "succeeded", output_image_id=image_id)
        else:
            await self.outputs.discard_if_orphan(image)

    async def _call(self, task: Task, request: ProviderRequest) -> ProviderResult:
        started = time.perf_counter()
        try:
            result = await self.caller.call(task, request)
        except ProviderError:
            self._call_over(task)
            raise
        self.slots.estimate.call_took(time.perf_counter() - started)
        self._call_over(task)
        return result

    async def _failed(self, task: Task, error: ProviderError, latency_ms: float) -> None:
        end = AttemptEnd(
            "failed",
            latency_ms,
            error_kind=error.kind,
            error_message=error.message,
            provider_request_id=error.request_id,
        )
        decision = self.retry.decide(error, task.attempts, self._rng, task.max_attempts)
        now = self.clock()
        if decision is None:
            if await self.queue.fail(task, self.worker_id, end, now):
                self._publish(task, "failed", error=error.message, error_kind=error.kind)
            return
        end = AttemptEnd("retry", latency_ms, end.error_kind, end.error_message, error.request_id)
        not_before = now + timedelta(seconds=decision.delay)
        if await self.queue.retry_later(task, self.worker_id, end, not_before, now):
            self._publish(
                task, "pending", error=error.message, error_kind=error.kind, retry_in=decision.delay
            )


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
