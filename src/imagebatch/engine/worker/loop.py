"""The worker: claim tasks under a lease, call the provider, store the output, record the end.

One Worker runs many tasks at once as asyncio tasks. It claims only as many as it has room
for (and as the limits in the database allow), extends its leases while calls run, and
abandons a call at once when its task was cancelled or its lease taken over. What running
one task means (the call, the output, how the attempt ended) is engine/worker/attempts.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from imagebatch.blobs.base import BlobStore
from imagebatch.domain.claims import Claimed, ClaimRequest
from imagebatch.domain.events import EventKind
from imagebatch.domain.records import Task
from imagebatch.domain.retry import RetryPolicy
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.engine.accounts.own_keys import OwnKeys
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.events import Event, EventBus, Output
from imagebatch.engine.outputs import OutputWriter
from imagebatch.engine.worker.attempts import AttemptRunner
from imagebatch.engine.worker.book import Book, Phase
from imagebatch.engine.worker.call_gate import CallGate
from imagebatch.engine.worker.calls import ProviderCaller
from imagebatch.engine.worker.group_commit import GroupCommit
from imagebatch.engine.worker.limits import LimitSource
from imagebatch.engine.worker.ratelimit import RateLimits
from imagebatch.engine.worker_options import (
    ERROR_BACKOFF_MAX_SECONDS,
    ERROR_BACKOFF_SECONDS,
    HEARTBEAT_SECONDS,
    WorkerOptions,
    new_worker_id,
)
from imagebatch.providers.base import ImageProvider
from imagebatch.store.completions import Completion
from imagebatch.store.images import ImageRepo
from imagebatch.store.queue import QueueRepo

log = logging.getLogger(__name__)


class Worker:
    """Runs claimed tasks; the AttemptHost (engine/worker/attempts.py) of their attempts."""

    def __init__(
        self,
        queue: QueueRepo,
        images: ImageRepo,
        blobs: BlobStore,
        providers: Mapping[str, ImageProvider],
        limits: LimitSource,
        retry: RetryPolicy,
        *,
        options: WorkerOptions | None = None,
        events: EventBus | None = None,
        clock: Clock = utc_now,
        worker_id: str | None = None,
        rate_limits: RateLimits | None = None,
        own_keys: OwnKeys | None = None,
    ) -> None:
        self.queue = queue
        self.limits = limits
        self.options = options or WorkerOptions()
        self.events = events or EventBus()
        self.clock = clock
        self.id = worker_id or new_worker_id()
        #: the running tasks: each one's job, phase and lease
        self._book = Book()
        self._gate = CallGate(self._book, self.options.capacity, self.options.claim_ahead)
        self._attempts = AttemptRunner(
            self.id,
            queue,
            ProviderCaller(providers, rate_limits, own_keys),
            OutputWriter(images, blobs, providers),
            retry,
            clock,
            self,
        )
        #: one claim at a time: a claim's grants were counted before the next one's counts
        self._claiming = asyncio.Lock()
        #: records successes in shared transactions, refilling freed slots as it goes
        self._group = GroupCommit(self._record)
        #: slots the group commit already refilled, so their ends need not wake the main loop
        self._refilled = 0
        #: when the oldest call end not yet followed by a refill was (perf_counter)
        self._refill_asked: float | None = None
        self._wake = asyncio.Event()
        #: looks for work that failed in a row (the database is unreachable)
        self._failed_rounds = 0
        #: set while the worker waits for something to do (for monitoring and tests)
        self.idle = asyncio.Event()

    @property
    def running(self) -> int:
        return len(self._book)

    def jobs(self) -> list[asyncio.Task[None]]:
        """The running tasks' jobs (to await or watch them)."""
        return [entry.job for entry in self._book]

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        listener = asyncio.create_task(self._listen())
        try:
            while not stop.is_set():
                # Cleared before looking for work: a task ending meanwhile re-sets it.
                self._wake.clear()
                if not await self._round(stop):
                    break
            await self._finish_running()
        finally:
            heartbeat.cancel()
            listener.cancel()
            self._gate.stopping = True
            await self._shutdown()
            self._group.stop()

    async def _round(self, stop: asyncio.Event) -> bool:
        """Claim what there is room for, then wait for a reason to look again; False once
        drained. A database error (a dropped connection, a failover) costs this round, never
        the worker: running calls go on, and their leases keep the tasks theirs meanwhile."""
        try:
            await self._fill()
            if self.options.drain and await self._drained():
                return False
            await self._idle(stop)
        except Exception as error:
            self._failed_rounds += 1
            delay = min(
                ERROR_BACKOFF_SECONDS * 2 ** (self._failed_rounds - 1), ERROR_BACKOFF_MAX_SECONDS
            )
            log.warning("looking for work failed (%s); again in %.1f s", _brief(error), delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        else:
            self._failed_rounds = 0
        return True

    async def _finish_running(self) -> None:
        """Stop claiming; give running calls the grace period (their leases still renew)."""
        self._gate.stopping = True  # no more claims nor hand-overs
        await self._give_back(self._waiting())
        if self.options.grace_seconds and self._book:
            running = self.jobs()
            log.info(
                "stopping: waiting up to %.0f s for %d call(s)",
                self.options.grace_seconds,
                len(running),
            )
            await asyncio.wait(running, timeout=self.options.grace_seconds)

    async def _plan(self) -> ClaimRequest | None:
        limits = await self.limits.current()
        share = await self.limits.fair_share()
        return self._gate.plan(limits, share, self.options.lease_seconds)

    async def _fill(self) -> None:
        self._abandon_expired()
        async with self._claiming:
            request = await self._plan()
            if request is None:
                return
            now = self.clock()
            asked = time.perf_counter()
            claimed = await self.queue.claim(self.id, request, now)
            self._gate.estimate.claim_took(time.perf_counter() - asked)
            self._start(claimed, now)

    def _start(self, claimed: Claimed, claimed_at: datetime) -> None:
        lease_until = self._lease_end(claimed_at)
        for task in claimed.tasks:
            self._book.add(task, asyncio.create_task(self._guarded(task)), lease_until)
            self.changed(task, TaskStatus.RUNNING)
        self._gate.admit(claimed)

    async def _give_back(self, waiting: list[Task]) -> None:
        """Hand tasks that wait for a slot back to the queue (a pause, a stop)."""
        if await self._hand_back([task.id for task in waiting]):
            for task in waiting:
                self.changed(task, TaskStatus.PENDING)

    async def _hand_back(self, ids: list[int]) -> bool:
        """Give tasks back to the queue at once, no attempt spent, abandoning their calls if
        they make one. They leave our book before any await. False if the database refused
        (their leases bring them back a little later)."""
        await asyncio.gather(*self._drop(ids), return_exceptions=True)
        try:
            await self.queue.release(ids, self.id, self.clock())
        except Exception as error:
            log.warning("handing back %d task(s) failed (%s)", len(ids), _brief(error))
            return False
        return bool(ids)

    def _drop(self, ids: list[int]) -> list[asyncio.Task[None]]:
        """Take tasks off our book and cancel their jobs (returned, to await)."""
        dropped = [entry for entry in map(self._book.remove, ids) if entry is not None]
        for entry in dropped:
            entry.job.cancel()
        return [entry.job for entry in dropped]

    def _waiting(self) -> list[Task]:
        """Tasks waiting for a call slot, in line order."""
        return [entry.task for entry in self._book.in_phase(Phase.WAITING)]

    def _waiting_in(self, batch_id: int | None) -> list[Task]:
        return [task for task in self._waiting() if task.batch_id == batch_id]

    def _lease_end(self, start: datetime) -> datetime:
        return start + timedelta(seconds=self.options.lease_seconds)

    def _abandon_expired(self) -> None:
        """Give up calls whose lease may have run out unrenewed (see engine/worker/book.py)."""
        for entry in self._book.expired(self.clock()):
            self._book.remove(entry.task.id)
            log.warning("task %s: lease ran out unrenewed; abandoning the call", entry.task.id)
            entry.job.cancel()

    async def _drained(self) -> bool:
        batch_ids = self.limits.batch_ids
        if self._book or batch_ids is None:
            return False
        return await self.queue.unfinished(batch_ids) == 0

    async def _idle(self, stop: asyncio.Event) -> None:
        timeout = self.options.poll_seconds
        # With calls in flight their ends wake us; only an idle worker needs to know exactly
        # when a backed-off task becomes due.
        if not self._book:
            due = await self.queue.next_due(self.limits.batch_ids, self.clock())
            if due is not None:
                timeout = min(timeout, max(0.0, (due - self.clock()).total_seconds()))
        waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        self.idle.set()
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        self.idle.clear()
        for waiter in waiters:
            waiter.cancel()

    async def _guarded(self, task: Task) -> None:
        try:
            await self._attempts.run(task)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug of ours must not kill the worker; the lease returns the task later.
            log.exception("task %s: unexpected error", task.id)
        finally:
            current = asyncio.current_task()
            if current is not None:
                self._book.remove(task.id, current)
            if self._refilled and self._book:
                self._refilled -= 1
            else:  # the last one out always wakes the loop: it may have drained the batch
                self._refilled = 0
                self._wake.set()

    async def call_slot(self, task: Task) -> None:
        await self._gate.wait(task.id)

    def call_ended(self, task: Task, seconds: float | None) -> None:
        """The slot goes to a task claimed ahead, if one may take it; the group commit
        refills whatever is left (and records this task's end once its output is stored).
        It runs even after a hand-over, to claim the next task ahead: leaving that to the
        transaction that records this task's end saved a fifth of the transactions but
        let the line run dry (0.946-0.964 against 0.966-0.973 at c=10, L=50 ms)."""
        if seconds is not None:
            self._gate.estimate.call_took(seconds)
        self._gate.call_over(task.id)
        if self._refill_asked is None:
            self._refill_asked = time.perf_counter()
        self._group.poke()

    async def succeeded(self, done: Completion) -> int | None:
        """Record a success; under load several share one transaction (group commit)."""
        return await self._group.add(done)

    def changed(
        self, task: Task, status: TaskStatus, output: Output | None = None, **data: object
    ) -> None:
        event = Event(EventKind.TASK, task.batch_id, task.id, status, data, output=output)
        self.events.publish(event)

    async def _record(self, items: list[Completion]) -> list[int | None]:
        """The group commit, claiming the next tasks for the freed slots in the same
        transaction (no extra round trip). It runs when outputs are stored and when calls
        end, so a slot is refilled while its last task's output is still being stored.
        On a database error (typically a connection dropped mid-transaction) the
        completions are tried once more, without the claim: each applies only to a task we
        still lease, so one that did commit changes nothing."""
        try:
            async with self._claiming:
                refill = await self._plan()
                # A refill's delay counts from the call end that asked for it: with the wait
                # for the transaction in flight, not the claim's round trip alone (which
                # left the line of tasks claimed ahead empty at a quarter of the call ends).
                asked, self._refill_asked = self._refill_asked or time.perf_counter(), None
                if not items and refill is None:
                    return []
                now = self.clock()
                results, claimed = await self.queue.succeed_many(self.id, items, now, refill)
                if refill is not None:
                    self._gate.estimate.claim_took(time.perf_counter() - asked)
                self._start(claimed, now)
                self._refilled += len(claimed.tasks)
                return results
        except Exception as error:
            log.warning("recording %d result(s) failed (%s); once more", len(items), _brief(error))
            results, _ = await self.queue.succeed_many(self.id, items, self.clock())
            return results

    async def _heartbeat_loop(self) -> None:
        # Often enough to keep the lease with two beats to spare, and to notice a cancel
        # made by another process within a couple of seconds.
        interval = min(self.options.lease_seconds / 3, HEARTBEAT_SECONDS)
        while True:
            await asyncio.sleep(interval)
            await self._check_leases_or_warn()

    async def _check_leases_or_warn(self) -> None:
        """check_leases, for the loops that must outlive a database error: the leases last
        a few beats, so the next beat renews them in time."""
        try:
            await self.check_leases()
        except Exception as error:
            log.warning("renewing leases failed (%s); next beat tries again", _brief(error))
            self._abandon_expired()

    async def check_leases(self) -> None:
        """Extend our leases; abandon calls whose task was cancelled or taken over."""
        ids = self._book.ids()
        until = self._lease_end(self.clock())
        still_ours = await self.queue.heartbeat(self.id, ids, until)
        self._book.renewed(still_ours, until)
        for task_id in set(ids) - still_ours:
            entry = self._book.get(task_id)
            if entry is not None:
                log.info("task %s: no longer ours (cancelled or lease lost); abandoning", task_id)
                entry.job.cancel()

    async def _listen(self) -> None:
        async with self.events.subscribe() as queue:
            while True:
                event = await queue.get()
                await self._heard(event)

    async def _heard(self, event: Event) -> None:
        if event.kind == EventKind.CANCELLED:  # before any await: no hand-over to them
            self._drop([task.id for task in self._waiting_in(event.batch_id)])
        if event.kind in _REREAD_LIMITS:
            self.limits.forget()
            await self._check_leases_or_warn()
        if event.kind == EventKind.BATCH and event.status == BatchStatus.PAUSED:
            await self._give_back(self._waiting_in(event.batch_id))
        if event.kind in _NEW_WORK:
            self._wake.set()
        elif event.remote and not self._book and event.status in _FREES_A_SLOT:
            self._wake.set()  # a slot came free on another worker: try for it

    async def _shutdown(self) -> None:
        """Give unfinished tasks back to the queue at once rather than waiting for leases."""
        await self._hand_back(self._book.ids())


#: events after which the limits are read again and our leases checked at once
_REREAD_LIMITS = frozenset({EventKind.CANCELLED, EventKind.SETTINGS})
#: events that mean there may be new work to claim
_NEW_WORK = frozenset(
    {EventKind.SUBMITTED, EventKind.RESUMED, EventKind.RETRIED, EventKind.SETTINGS}
)
_T = TaskStatus
#: task states another worker's task reaches when it stops holding a global slot
_FREES_A_SLOT = frozenset({_T.SUCCEEDED, _T.FAILED, _T.PENDING, _T.CANCELLED})


def _brief(error: Exception) -> str:
    """The error's first line: a driver's message goes on with the SQL and its parameters."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
