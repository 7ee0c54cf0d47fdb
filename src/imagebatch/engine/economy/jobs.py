"""Economy mode: an economy batch's tasks run as discounted provider batch jobs.

The runner gathers an economy batch's pending tasks into jobs (one provider and model, and
generations apart from edits, within the provider's size limits), claims them for the job in
the transaction that records it, submits the job, polls it every
IMAGEBATCH_ECONOMY_POLL_SECONDS and hands its results to the tasks (engine/economy/results.py)
through the same store transitions as the worker. Normal workers never claim economy tasks.

Crash safety: the job row exists (status "submitting", with a unique marker) before the
provider hears of it. A job left "submitting" by a dead runner is first looked for by its
marker (the provider may have created it just before the crash) and only then submitted;
a "running" job is simply polled again. A runner leases the jobs it looks after; another
runner takes a job over once that lease runs out (at once when its runner was a dead local
process, or stopped cleanly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from imagebatch.domain.events import EventKind
from imagebatch.domain.records import Task
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.economy.results import ResultSink
from imagebatch.engine.events import Event, EventBus
from imagebatch.engine.outputs import OutputWriter
from imagebatch.engine.worker_options import new_worker_id
from imagebatch.errors import InvalidRequest, ProviderError
from imagebatch.providers.base import (
    BatchJobs,
    ImageProvider,
    ProviderRequest,
    SubmittedJob,
    wire_size,
)
from imagebatch.store.provider_jobs import NewJob, ProviderJob, ProviderJobRepo
from imagebatch.store.queue import QueueRepo

log = logging.getLogger(__name__)

#: events after which there may be work for us (a cancel: a job's tasks to give up)
_NEW_WORK = frozenset(
    {EventKind.SUBMITTED, EventKind.RESUMED, EventKind.RETRIED, EventKind.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class EconomyOptions:
    #: seconds between two looks at a running provider job
    poll_seconds: float = 60.0
    #: how long a job (and its tasks) stays ours without a heartbeat
    lease_seconds: float = 60.0
    #: longest wait before looking for new work again (events usually wake us sooner)
    tick_seconds: float = 1.0
    #: stop once the scoped batches have no pending or running task left
    drain: bool = False


class EconomyRunner:
    def __init__(
        self,
        jobs: ProviderJobRepo,
        queue: QueueRepo,
        sink: ResultSink,
        providers: Mapping[str, ImageProvider],
        *,
        options: EconomyOptions | None = None,
        events: EventBus | None = None,
        clock: Clock = utc_now,
        batch_ids: Sequence[int] | None = None,
        runner_id: str | None = None,
        is_dead: Callable[[str], bool] | None = None,
    ) -> None:
        self.jobs = jobs
        self.queue = queue
        self.sink = sink
        self.providers = providers
        self.options = options or EconomyOptions()
        self.events = events or EventBus()
        self.clock = clock
        self.batch_ids = list(batch_ids) if batch_ids is not None else None
        self.id = runner_id or new_worker_id()
        #: whether another runner is known to be gone (a dead local process)
        self.is_dead = is_dead or (lambda _runner: False)
        #: the jobs we look after, and when each is next due (time.monotonic)
        self._ours: dict[int, ProviderJob] = {}
        self._due: dict[int, float] = {}
        #: jobs that may exist at the provider without our knowing their id
        self._uncertain: set[int] = set()
        self._beat_at = 0.0
        self._wake = asyncio.Event()

    @property
    def writer(self) -> OutputWriter:
        return self.sink.outputs

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        listener = asyncio.create_task(self._listen())
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.step()
                    if self.options.drain and await self._drained():
                        break
                except Exception as error:  # a dropped connection must not end the runner
                    log.warning("economy round failed (%s); trying again", error)
                await self._idle(stop)
        finally:
            listener.cancel()
            with contextlib.suppress(Exception):
                await self.jobs.let_go(self.id, self.clock())

    async def step(self) -> None:
        """One round: take over orphaned jobs, renew leases, move each job on, form new ones."""
        await self._adopt()
        await self._heartbeat()
        for job in list(self._ours.values()):
            if self._due.get(job.id, 0.0) <= time.monotonic():
                await self._advance(job)
        await self._form_jobs()

    # --- jobs we look after ------------------------------------------------------------

    async def _adopt(self) -> None:
        now = self.clock()
        for job in await self.jobs.unfinished(self.batch_ids):
            if job.id in self._ours:
                continue
            free = job.runner_id is None or job.runner_id == self.id
            expired = job.lease_until is None or job.lease_until < now
            if not (free or expired or self.is_dead(job.runner_id or "")):
                continue
            if await self.jobs.take_over(job, self.id, self._lease_end(), now) is None:
                continue  # another runner was quicker
            log.info("economy job %s: taken over (%s)", job.id, job.status)
            self._ours[job.id] = job
            if job.status == "submitting":
                self._uncertain.add(job.id)  # its runner may have submitted it already

    async def check_jobs(self) -> None:
        """Renew our leases now, and notice jobs whose tasks were all cancelled."""
        self._beat_at = 0.0
        await self._heartbeat()

    async def _heartbeat(self) -> None:
        interval = min(self.options.lease_seconds / 3, 10.0)
        if not self._ours or time.monotonic() - self._beat_at < interval:
            return
        self._beat_at = time.monotonic()
        still = await self.jobs.heartbeat(self.id, list(self._ours.values()), self._lease_end())
        for job_id, running in still.items():
            if not running:
                await self._emptied(self._ours[job_id])

    async def _emptied(self, job: ProviderJob) -> None:
        """No task of the job runs any more: cancelled, or the job is another runner's."""
        current = await self.jobs.get(job.id)
        self._forget(job.id)
        if current.runner_id != self.id or current.status not in ("submitting", "running"):
            return
        if current.external_id and current.key_ref:
            provider = self._batch_provider(job.provider)
            if provider is not None:
                try:
                    await provider.cancel_batch(SubmittedJob(current.external_id, current.key_ref))
                except ProviderError as error:  # best effort: the tasks are cancelled anyway
                    log.warning("economy job %s: cancelling at the provider: %s", job.id, error)
                await _discard(provider, current)  # results written after this one stay
        await self.jobs.finished(job, "cancelled", "its tasks were cancelled", self.clock())
        self._publish(job, "cancelled")

    async def _advance(self, job: ProviderJob) -> None:
        if job.status == "submitting":
            await self._submit(job, None)
        else:
            await self._poll(job)

    async def _submit(self, job: ProviderJob, built: dict[int, ProviderRequest] | None) -> None:
        provider = self._batch_provider(job.provider)
        if provider is None:
            await self._give_up(job, _no_batch_jobs(job.provider))
            return
        try:
            found = await provider.find_batch(job.marker) if job.id in self._uncertain else None
            if found is None:
                found = await provider.submit_batch(await self._items(job, built), job.marker)
        except ProviderError as error:
            if not error.retryable:
                await self._give_up(job, error)
                return
            log.warning("economy job %s: submitting failed, will try again: %s", job.id, error)
            self._uncertain.add(job.id)  # a timeout may have created it all the same
            self._later(job.id)
            return
        self._uncertain.discard(job.id)
        await self.jobs.submitted(job, found.external_id, found.key_ref, self.clock())
        self._ours[job.id] = await self.jobs.get(job.id)
        self._later(job.id)
        self._publish(job, "submitted", external_id=found.external_id)

    async def _items(
        self, job: ProviderJob, built: dict[int, ProviderRequest] | None
    ) -> list[tuple[str, ProviderRequest]]:
        tasks = await self.jobs.running_tasks(job)
        if built is None:
            built = {task.id: await self.writer.request_for(task) for task in tasks}
        return [(str(task.id), built[task.id]) for task in tasks if task.id in built]

    async def _poll(self, job: ProviderJob) -> None:
        provider = self._batch_provider(job.provider)
        if provider is None or not job.external_id or not job.key_ref:
            await self._give_up(job, _no_batch_jobs(job.provider))
            return
        try:
            state = await provider.poll_batch(SubmittedJob(job.external_id, job.key_ref))
        except ProviderError as error:
            log.warning("economy job %s: polling failed, will try again: %s", job.id, error)
            self._later(job.id)
            return
        await self.jobs.polled(job, self.clock())
        if not state.finished:
            self._later(job.id)
            self._publish(job, state.status)
            return
        await self.sink.collect(job, state, await self.jobs.running_tasks(job))
        await self.jobs.finished(job, state.status, state.error, self.clock())
        self._forget(job.id)
        self._publish(job, state.status)
        await _discard(provider, job)

    async def _give_up(self, job: ProviderJob, error: ProviderError) -> None:
        """The job cannot run (a final error): every task of it takes the error."""
        log.warning("economy job %s: %s", job.id, error)
        tasks = await self.jobs.running_tasks(job)
        await self.sink.fail_all(job, tasks, error)
        await self.jobs.finished(job, "failed", error.message, self.clock())
        self._forget(job.id)
        self._publish(job, "failed", error=error.message)

    # --- new jobs ----------------------------------------------------------------------

    async def _form_jobs(self) -> None:
        pending = await self.jobs.candidates(self.batch_ids, self.clock())
        for (batch_id, name, model, _edit), group in groupby(sorted(pending, key=_group), _group):
            provider = self._batch_provider(name)
            limits = provider.batch_limits(model) if provider else None
            chunk: dict[int, ProviderRequest] = {}
            size = 0
            for task in group:
                request = await self.writer.request_for(task)
                grown = size + wire_size(request)
                if (
                    chunk
                    and limits
                    and (len(chunk) >= limits.max_requests or grown > limits.max_bytes)
                ):
                    await self._start_job(batch_id, name, model, chunk)
                    chunk, grown = {}, wire_size(request)
                chunk[task.id], size = request, grown
            if chunk:
                await self._start_job(batch_id, name, model, chunk)

    async def _start_job(
        self, batch_id: int, provider: str, model: str, requests: dict[int, ProviderRequest]
    ) -> None:
        new = NewJob(batch_id, provider, model, f"imagebatch-{uuid.uuid4().hex}", list(requests))
        created = await self.jobs.create(new, self.id, self._lease_end(), self.clock())
        if created is None:
            return  # cancelled, or another runner took them first
        job, claimed = created
        self._ours[job.id] = job
        for task in claimed:
            self._publish_task(task, "running")
        await self._submit(job, requests)

    # --- plumbing ----------------------------------------------------------------------

    def _batch_provider(self, name: str) -> BatchJobs | None:
        provider = self.providers.get(name)
        return provider if isinstance(provider, BatchJobs) else None

    def _later(self, job_id: int) -> None:
        self._due[job_id] = time.monotonic() + self.options.poll_seconds

    def _forget(self, job_id: int) -> None:
        self._ours.pop(job_id, None)
        self._due.pop(job_id, None)
        self._uncertain.discard(job_id)

    def _lease_end(self) -> datetime:
        return self.clock() + timedelta(seconds=self.options.lease_seconds)

    async def _drained(self) -> bool:
        if self._ours or self.batch_ids is None:
            return False
        return await self.queue.unfinished(self.batch_ids) == 0

    async def _idle(self, stop: asyncio.Event) -> None:
        timeout = self.options.tick_seconds
        if self._due:
            timeout = min(timeout, max(0.0, min(self._due.values()) - time.monotonic()))
        waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def _listen(self) -> None:
        async with self.events.subscribe() as queue:
            while True:
                event = await queue.get()
                if event.kind == EventKind.CANCELLED:
                    self._beat_at = 0.0  # look at our jobs' tasks now
                if event.kind in _NEW_WORK:
                    self._wake.set()

    def _publish(self, job: ProviderJob, status: str, **data: object) -> None:
        data = {"job_id": job.id, "tasks": len(job.task_ids), **data}
        self.events.publish(
            Event(EventKind.ECONOMY, batch_id=job.batch_id, status=status, data=data)
        )

    def _publish_task(self, task: Task, status: str) -> None:
        self.events.publish(
            Event(EventKind.TASK, batch_id=task.batch_id, task_id=task.id, status=status)
        )


def _group(task: Task) -> tuple[int, str, str, bool]:
    """Tasks that may share one job: one batch, provider and model; edits apart."""
    return (
        task.batch_id,
        task.provider,
        task.model,
        bool(task.request.images),
    )


async def _discard(provider: BatchJobs, job: ProviderJob) -> None:
    """After the results are recorded, never before: a crash in between must not lose them."""
    try:
        await provider.discard_batch(SubmittedJob(job.external_id or "", job.key_ref or ""))
    except ProviderError as error:
        log.warning("economy job %s: its files at the provider stay: %s", job.id, error)


def _no_batch_jobs(provider: str) -> ProviderError:
    return InvalidRequest(
        f"{provider} offers no batch jobs (or is not configured here): economy batches "
        "cannot run on it; create the batch without economy mode"
    )
