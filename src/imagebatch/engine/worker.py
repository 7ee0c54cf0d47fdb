"""The worker: claim tasks under a lease, call the provider, store the output, record the end.

One Worker runs many tasks at once as asyncio tasks. It claims only as many as it has room
for (and as the limits in the database allow), extends its leases while calls run, and
abandons a call at once when its task was cancelled or its lease taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from imagebatch.blobs.base import BlobStore
from imagebatch.domain.records import Task
from imagebatch.domain.retry import RetryPolicy
from imagebatch.engine.calls import ProviderCaller
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.events import Event, EventBus
from imagebatch.engine.group_commit import GroupCommit
from imagebatch.engine.leases import LeaseBook
from imagebatch.engine.limits import LimitSource
from imagebatch.engine.outputs import OutputWriter
from imagebatch.engine.own_keys import OwnKeys
from imagebatch.engine.ratelimit import RateLimits
from imagebatch.errors import ProviderError
from imagebatch.providers.base import ImageProvider, ProviderRequest, ProviderResult
from imagebatch.store.claim import ClaimLimits
from imagebatch.store.completions import Completion
from imagebatch.store.images import ImageRepo
from imagebatch.store.queue import QueueRepo, Refill
from imagebatch.store.transitions import AttemptEnd

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
#: after a failed look for work (the database unreachable), wait this long, doubling up to
#: ERROR_BACKOFF_MAX_SECONDS while the failures go on
ERROR_BACKOFF_SECONDS = 0.5
ERROR_BACKOFF_MAX_SECONDS = 15.0


def new_worker_id() -> str:
    """host:pid:nonce — the host and pid let a restarted CLI spot its own dead predecessors."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    #: most tasks this worker runs at once (the database limits apply on top)
    capacity: int = 100
    lease_seconds: float = 60.0
    #: longest idle wait before looking for work again (events usually wake us sooner)
    poll_seconds: float = 1.0
    #: stop once the scoped batches have no pending or running task left
    drain: bool = False
    #: on stop, let running calls finish for this long before handing the rest back
    grace_seconds: float = 0.0


class Worker:
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
        self.caller = ProviderCaller(providers, rate_limits, own_keys)
        self.queue = queue
        self.limits = limits
        self.retry = retry
        self.options = options or WorkerOptions()
        self.events = events or EventBus()
        self.clock = clock
        self.id = worker_id or new_worker_id()
        self.outputs = OutputWriter(images, blobs)
        self._inflight: dict[int, asyncio.Task[None]] = {}
        #: running tasks whose provider call is over. Storing and recording an output takes
        #: ~10 ms, mostly waiting for the GIL and the group commit; the call slot goes to the
        #: next task meanwhile (see ClaimLimits.finishing).
        self._finishing: set[int] = set()
        self._leases = LeaseBook()
        #: records successes in shared transactions, refilling freed slots as it goes
        self._group = GroupCommit(self._record, self._refill, clock)
        self._flusher: asyncio.Task[None] | None = None
        #: slots the group commit already refilled, so their ends need not wake the main loop
        self._refilled = 0
        self._wake = asyncio.Event()
        self._rng = random.Random()
        #: no more claims: the worker is shutting down
        self._stopping = False
        #: looks for work that failed in a row (the database is unreachable)
        self._failed_rounds = 0
        #: set while the worker waits for something to do (for monitoring and tests)
        self.idle = asyncio.Event()

    @property
    def running(self) -> int:
        return len(self._inflight)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        listener = asyncio.create_task(self._listen())
        self._flusher = asyncio.create_task(self._group.run())
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
            await self._shutdown()
            self._flusher.cancel()
            self._flusher = None

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
        self._stopping = True
        if self.options.grace_seconds and self._inflight:
            running = list(self._inflight.values())
            log.info(
                "stopping: waiting up to %.0f s for %d call(s)",
                self.options.grace_seconds,
                len(running),
            )
            await asyncio.wait(running, timeout=self.options.grace_seconds)

    async def _room(self) -> int:
        """Tasks this worker may start now. Those whose call is over leave their slot free,
        up to `cap` of them: a slow store must not let outputs pile up in memory."""
        cap = self.options.capacity
        share = await self.limits.fair_share()
        if share is not None:
            cap = min(cap, share)
        return max(0, cap - len(self._inflight) + min(cap, len(self._finishing)))

    async def _claim_limits(self) -> ClaimLimits:
        return replace(await self.limits.current(), finishing=list(self._finishing))

    async def _fill(self) -> None:
        self._abandon_expired()
        room = await self._room()
        if room <= 0:
            return
        limits = await self._claim_limits()
        now = self.clock()
        claimed = await self.queue.claim(self.id, room, limits, now, self.options.lease_seconds)
        self._start(claimed, now)

    def _start(self, claimed: list[Task], claimed_at: datetime) -> None:
        self._leases.granted((t.id for t in claimed), self._lease_end(claimed_at))
        for task in claimed:
            self._finishing.discard(task.id)  # taken again after its lease ran out
            self._inflight[task.id] = asyncio.create_task(self._guarded(task))
            self._publish(task, "running")

    def _lease_end(self, start: datetime) -> datetime:
        return start + timedelta(seconds=self.options.lease_seconds)

    def _abandon_expired(self) -> None:
        """Give up calls whose lease may have run out unrenewed (see engine/leases.py)."""
        for task_id in self._leases.expired(self.clock()):
            self._leases.forget(task_id)
            self._finishing.discard(task_id)
            running = self._inflight.pop(task_id, None)
            if running is not None:
                log.warning("task %s: lease ran out unrenewed; abandoning the call", task_id)
                running.cancel()

    async def _drained(self) -> bool:
        batch_ids = self.limits.batch_ids
        if self._inflight or batch_ids is None:
            return False
        return await self.queue.unfinished(batch_ids) == 0

    async def _idle(self, stop: asyncio.Event) -> None:
        timeout = self.options.poll_seconds
        # With calls in flight their ends wake us; only an idle worker needs to know exactly
        # when a backed-off task becomes due.
        if not self._inflight:
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
            await self._execute(task)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug of ours must not kill the worker; the lease returns the task later.
            log.exception("task %s: unexpected error", task.id)
        finally:
            if self._inflight.get(task.id) is asyncio.current_task():
                self._inflight.pop(task.id)
                self._finishing.discard(task.id)
                self._leases.forget(task.id)
            if self._refilled and self._inflight:
                self._refilled -= 1
            else:  # the last one out always wakes the loop: it may have drained the batch
                self._refilled = 0
                self._wake.set()

    async def _execute(self, task: Task) -> None:
        started = time.perf_counter()
        try:
            request = await self.outputs.request_for(task)
            result = await self._call(task, request)
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
        """The provider call; once it is over, the group commit fills its slot."""
        try:
            result = await self.caller.call(task, request)
        except ProviderError:
            self._call_over(task)
            raise
        self._call_over(task)
        return result

    def _call_over(self, task: Task) -> None:
        self._finishing.add(task.id)
        self._group.poke()

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
            if await self.queue.fail(task, self.id, end, now):
                self._publish(task, "failed", error=error.message)
            return
        end = AttemptEnd("retry", latency_ms, end.error_kind, end.error_message, error.request_id)
        not_before = now + timedelta(seconds=decision.delay)
        if await self.queue.retry_later(task, self.id, end, not_before, now):
            self._publish(task, "pending", error=error.message, retry_in=decision.delay)

    async def _commit(self, item: Completion) -> int | None:
        """Record a success; under load several share one transaction (group commit)."""
        if self._flusher is None:  # not running a loop (tests drive single steps)
            [done], _ = await self.queue.succeed_many(self.id, [item], self.clock())
            return done
        return await self._group.add(item)

    def _refill(self, claimed: list[Task], claimed_at: datetime) -> None:
        self._start(claimed, claimed_at)
        self._refilled += len(claimed)

    async def _record(self, items: list[Completion]) -> tuple[list[int | None], list[Task]]:
        """The group commit, claiming the next tasks for the freed slots in the same
        transaction (no extra round trip). It runs when outputs are stored and when calls
        end, so a slot is refilled while its last task's output is still being stored.
        On a database error (typically a connection dropped mid-transaction) the
        completions are tried once more, without the claim: each applies only to a task we
        still lease, so one that did commit changes nothing."""
        try:
            wanted = 0 if self._stopping else await self._room()
            if not items and not wanted:
                return [], []
            refill = Refill(wanted, await self._claim_limits(), self.options.lease_seconds)
            return await self.queue.succeed_many(self.id, items, self.clock(), refill)
        except Exception as error:
            log.warning("recording %d result(s) failed (%s); once more", len(items), _brief(error))
            return await self.queue.succeed_many(self.id, items, self.clock())

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
        ids = list(self._inflight)
        until = self._lease_end(self.clock())
        still_ours = await self.queue.heartbeat(self.id, ids, until)
        self._leases.granted(still_ours, until)
        for task_id in set(ids) - still_ours:
            running = self._inflight.get(task_id)
            if running is not None:
                log.info("task %s: no longer ours (cancelled or lease lost); abandoning", task_id)
                running.cancel()

    async def _listen(self) -> None:
        async with self.events.subscribe() as queue:
            while True:
                event = await queue.get()
                if event.kind in {"cancelled", "settings"}:
                    self.limits.forget()
                    await self._check_leases_or_warn()
                if event.kind in {"submitted", "resumed", "retried", "settings"}:
                    self._wake.set()
                elif event.remote and not self._inflight and event.status in _FREES_A_SLOT:
                    self._wake.set()  # a slot came free on another worker: try for it

    async def _shutdown(self) -> None:
        """Give unfinished tasks back to the queue at once rather than waiting for leases."""
        ids, running = list(self._inflight), list(self._inflight.values())
        for job in running:
            job.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.queue.release(ids, self.id, self.clock())
        self._inflight.clear()
        self._finishing.clear()

    def _publish(self, task: Task, status: str, **data: object) -> None:
        self.events.publish(
            Event("task", batch_id=task.batch_id, task_id=task.id, status=status, data=data)
        )


#: task states another worker's task reaches when it stops holding a global slot
_FREES_A_SLOT = frozenset({"succeeded", "failed", "pending", "cancelled"})


def _brief(error: Exception) -> str:
    """The error's first line: a driver's message goes on with the SQL and its parameters."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
