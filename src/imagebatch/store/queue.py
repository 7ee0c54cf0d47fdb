"""QueueRepo: claiming tasks under leases and recording how each attempt ended.

Every method is one transaction. A worker's writes carry its worker id and only touch rows it
still leases, so a worker that lost its lease (it was presumed dead) can never commit a result
twice: its late write matches no row and is dropped.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, update

from imagebatch.domain.attempts import AttemptEnd, AttemptOutcome
from imagebatch.domain.claims import Claimed, ClaimRequest
from imagebatch.domain.records import Task
from imagebatch.domain.states import TaskStatus
from imagebatch.store import ledger
from imagebatch.store.claim import pick, take_claim_turn
from imagebatch.store.completions import Completion, complete_many
from imagebatch.store.db import Database
from imagebatch.store.images import NewImage
from imagebatch.store.tables import attempts, tasks
from imagebatch.store.transitions import (
    bump,
    claim_tasks,
    close_attempt,
    finish,
    finish_params,
    mark_batches_started,
    open_attempts,
    owned,
    reap_expired,
    succeeded_outputs,
)

#: expired leases are looked for at most this often by one process (claims are frequent)
REAP_EVERY = timedelta(seconds=1)


def priced(task: Task) -> ledger.Priced:
    return ledger.Priced(task.owner, task.batch_id, task.id, task.price)


def _claim(conn: Connection, worker_id: str, request: ClaimRequest, now: datetime) -> Claimed:
    """The caller took the claim turn (take_claim_turn) first in its transaction: taking it
    before any row lock means no transaction can hold rows we need while waiting for it."""
    picked = pick(conn, request, now, worker_id)
    ids = picked.ids
    if not ids:
        return Claimed([], picked.grant)
    until = now + timedelta(seconds=request.lease_seconds)
    result = sorted(claim_tasks(conn, ids, worker_id, until, now), key=lambda t: ids.index(t.id))
    open_attempts(conn, result, worker_id, now)
    unstarted = {t.batch_id for t in result} - picked.running_batches
    mark_batches_started(conn, unstarted, now)
    return Claimed(result, picked.grant)


@dataclass
class ClaimStats:
    """Time this process spent claiming, for the worker's last words and bench/scale.py.

    Counted in the claim's statements (waiting for the claim turn, reaping expired leases,
    choosing and updating rows), not its commit or the thread hand-off: the part that grows
    when more processes claim from one database. Two clock reads per claim: always on."""

    claims: int = 0
    tasks: int = 0
    seconds: float = 0.0
    #: of `seconds`, waiting for the claim turn (other processes' claims)
    waiting: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, tasks: int, seconds: float, waiting: float) -> None:
        with self._lock:  # claims run on several writer threads
            self.claims += 1
            self.tasks += tasks
            self.seconds += seconds
            self.waiting += waiting


class QueueRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._reaped_at: datetime | None = None
        self.claim_stats = ClaimStats()

    async def claim(self, worker_id: str, request: ClaimRequest, now: datetime) -> Claimed:
        reap = self._reaped_at is None or not (
            self._reaped_at <= now < self._reaped_at + REAP_EVERY
        )
        if reap:
            self._reaped_at = now

        def work(conn: Connection) -> Claimed:
            asked = time.perf_counter()
            take_claim_turn(conn)
            turn = time.perf_counter()
            if reap:
                reap_expired(conn, now)
            claimed = _claim(conn, worker_id, request, now)
            self.claim_stats.add(len(claimed.tasks), time.perf_counter() - asked, turn - asked)
            return claimed

        return await self.db.write(work)

    async def heartbeat(self, worker_id: str, task_ids: Sequence[int], until: datetime) -> set[int]:
        """Extend our leases; returns the tasks still ours (the others were cancelled or lost)."""
        if not task_ids:
            return set()

        def work(conn: Connection) -> set[int]:
            rows = conn.execute(
                update(tasks)
                .where(
                    tasks.c.id.in_(task_ids),
                    tasks.c.lease_owner == worker_id,
                    tasks.c.status == TaskStatus.RUNNING.value,
                )
                .values(lease_until=until)
                .returning(tasks.c.id)
            )
            return {row.id for row in rows.all()}

        return await self.db.write(work)

    async def succeed(
        self, task: Task, worker_id: str, image: NewImage, end: AttemptEnd, now: datetime
    ) -> bool:
        """Output row, task and batch counters in one transaction; False if we lost the task."""
        [done], _ = await self.succeed_many(worker_id, [(task, image, end)], now)
        return done is not None

    async def succeed_many(
        self,
        worker_id: str,
        items: Sequence[Completion],
        now: datetime,
        refill: ClaimRequest | None = None,
    ) -> tuple[list[int | None], Claimed]:
        """Several completions in one transaction (a group commit); each is all or nothing:
        a task whose lease was lost leaves no image row and no count behind (its result is
        None, the others' their output image id). With `refill`, the same transaction claims
        the tasks to run next in the freed slots."""

        def work(conn: Connection) -> tuple[list[int | None], Claimed]:
            asked = time.perf_counter()
            if refill:
                take_claim_turn(conn)
            waited = time.perf_counter() - asked
            by_task = complete_many(conn, worker_id, items, now)
            results = [by_task.get(task.id) for task, _, _ in items]
            done = [task for task, _, _ in items if task.id in by_task]
            ledger.charge(conn, [priced(t) for t in done if t.price], now)
            for batch_id, n in sorted(Counter(t.batch_id for t in done).items()):
                bump(conn, batch_id, "succeeded", now, n)
            if not refill:
                return results, Claimed()
            choosing = time.perf_counter()
            claimed = _claim(conn, worker_id, refill, now)
            self.claim_stats.add(
                len(claimed.tasks), waited + time.perf_counter() - choosing, waited
            )
            return results, claimed

        return await self.db.write(work)

    async def fail(self, task: Task, worker_id: str, end: AttemptEnd, now: datetime) -> bool:
        def work(conn: Connection) -> bool:
            done = finish(conn, finish_params(task, worker_id, TaskStatus.FAILED, now, end=end))
            if done:
                close_attempt(conn, task, end, now)
                ledger.settle_unsuccessful(conn, [priced(task)], now)
                bump(conn, task.batch_id, "failed", now)
            return done

        return await self.db.write(work)

    async def retry_later(
        self, task: Task, worker_id: str, end: AttemptEnd, not_before: datetime, now: datetime
    ) -> bool:
        """Back to pending until `not_before` (a retryable error)."""

        def work(conn: Connection) -> bool:
            result = conn.execute(
                owned(task, worker_id).values(
                    status=TaskStatus.PENDING.value,
                    lease_owner=None,
                    lease_until=None,
                    not_before=not_before,
                    error_kind=end.error_kind,
                    error_message=end.error_message,
                )
            )
            if result.rowcount:
                close_attempt(conn, task, end, now)
            return bool(result.rowcount)

        return await self.db.write(work)

    async def release(self, task_ids: Sequence[int], worker_id: str, now: datetime) -> int:
        """Give running tasks back to the queue at once (graceful shutdown); no attempt is spent."""
        if not task_ids:
            return 0

        def work(conn: Connection) -> int:
            result = conn.execute(
                update(tasks)
                .where(
                    tasks.c.id.in_(task_ids),
                    tasks.c.lease_owner == worker_id,
                    tasks.c.status == TaskStatus.RUNNING.value,
                )
                .values(
                    status=TaskStatus.PENDING.value,
                    lease_owner=None,
                    lease_until=None,
                    attempts=tasks.c.attempts - 1,
                )
            )
            conn.execute(
                update(attempts)
                .where(attempts.c.task_id.in_(task_ids), attempts.c.ended_at.is_(None))
                .values(ended_at=now, outcome=AttemptOutcome.RELEASED.value)
            )
            return result.rowcount

        return await self.db.write(work)

    async def expire_leases_of(self, worker_ids: Sequence[str], now: datetime) -> int:
        """Treat these workers as dead (known gone, e.g. a killed local process)."""
        if not worker_ids:
            return 0

        def work(conn: Connection) -> int:
            conn.execute(
                update(tasks)
                .where(
                    tasks.c.lease_owner.in_(worker_ids),
                    tasks.c.status == TaskStatus.RUNNING.value,
                )
                .values(lease_until=now - timedelta(seconds=1))
            )
            return reap_expired(conn, now)

        return await self.db.write(work)

    async def lease_owners(self) -> list[str]:
        query = (
            select(tasks.c.lease_owner).where(tasks.c.status == TaskStatus.RUNNING.value).distinct()
        )

        def work(conn: Connection) -> list[str]:
            return [row[0] for row in (conn.execute(query)).all() if row[0]]

        return await self.db.read(work)

    async def next_due(self, batch_ids: Sequence[int] | None, now: datetime) -> datetime | None:
        """When the earliest backed-off pending task becomes claimable (None: none waiting)."""
        query = select(func.min(tasks.c.not_before)).where(
            tasks.c.status == TaskStatus.PENDING.value, tasks.c.not_before > now
        )
        if batch_ids is not None:
            query = query.where(tasks.c.batch_id.in_(batch_ids))

        value: datetime | None = await self.db.read(lambda conn: conn.execute(query).scalar())
        return value

    async def succeeded_outputs(self, owner: str, request_keys: Sequence[str]) -> dict[str, int]:
        """Output image ids of `owner`'s succeeded tasks with these request keys (--reuse):
        never another user's, which would hand over their image for free."""

        def work(conn: Connection) -> dict[str, int]:
            return succeeded_outputs(conn, owner, list(dict.fromkeys(request_keys)))

        return await self.db.read(work)

    async def unfinished(self, batch_ids: Sequence[int]) -> int:
        """Pending or running tasks of these batches (paused batches included)."""
        query = select(func.count()).where(
            tasks.c.batch_id.in_(batch_ids),
            tasks.c.status.in_([TaskStatus.PENDING.value, TaskStatus.RUNNING.value]),
        )

        def work(conn: Connection) -> int:
            return int(conn.scalar(query) or 0)

        return await self.db.read(work)
