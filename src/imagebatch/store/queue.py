"""QueueRepo: claiming tasks under leases and recording how each attempt ended.

Every method is one transaction. A worker's writes carry its worker id and only touch rows it
still leases, so a worker that lost its lease (it was presumed dead) can never commit a result
twice: its late write matches no row and is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from imagebatch.domain.records import Task
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.store.batches import settle_if_done
from imagebatch.store.claim import ClaimLimits, pick
from imagebatch.store.db import Database
from imagebatch.store.images import NewImage, upsert_image
from imagebatch.store.rows import task_from_row
from imagebatch.store.tables import attempts, batches, tasks

#: a task whose worker died this many times is failed rather than handed out again
MAX_LOST_LEASES = 5


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """How one attempt ended, for the attempts table."""

    outcome: str
    latency_ms: float
    error_kind: str | None = None
    error_message: str | None = None
    provider_request_id: str | None = None


#: expired leases are looked for at most this often by one process (claims are frequent)
REAP_EVERY = timedelta(seconds=1)


class QueueRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._reaped_at: datetime | None = None

    async def claim(
        self, worker_id: str, wanted: int, limits: ClaimLimits, now: datetime, lease: float
    ) -> list[Task]:
        reap = self._reaped_at is None or not (
            self._reaped_at <= now < self._reaped_at + REAP_EVERY
        )
        if reap:
            self._reaped_at = now

        def work(conn: Connection) -> list[Task]:
            if reap:
                _reap_expired(conn, now)
            picked = pick(conn, wanted, limits, now)
            if not picked:
                return []
            until = now + timedelta(seconds=lease)
            claimed = conn.execute(
                update(tasks)
                .where(tasks.c.id.in_(picked), tasks.c.status == TaskStatus.PENDING.value)
                .values(
                    status=TaskStatus.RUNNING.value,
                    lease_owner=worker_id,
                    lease_until=until,
                    attempts=tasks.c.attempts + 1,
                    started_at=func.coalesce(tasks.c.started_at, now),
                    not_before=None,
                )
                .returning(*tasks.c)
            )
            result = sorted(
                (task_from_row(r) for r in claimed.all()), key=lambda t: picked.index(t.id)
            )
            _open_attempts(conn, result, worker_id, now)
            _mark_batches_started(conn, {t.batch_id for t in result}, now)
            return result

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

        def work(conn: Connection) -> bool:
            image_id = upsert_image(conn, image, now)
            if not _finish(
                conn, task, worker_id, TaskStatus.SUCCEEDED, now, output_image_id=image_id
            ):
                raise _LostTask  # roll the image row back with it
            _close_attempt(conn, task, end, now)
            _bump(conn, task.batch_id, "succeeded", now)
            return True

        try:
            return await self.db.write(work)
        except _LostTask:
            return False

    async def fail(self, task: Task, worker_id: str, end: AttemptEnd, now: datetime) -> bool:
        def work(conn: Connection) -> bool:
            done = _finish(
                conn,
                task,
                worker_id,
                TaskStatus.FAILED,
                now,
                error_kind=end.error_kind,
                error_message=end.error_message,
            )
            if done:
                _close_attempt(conn, task, end, now)
                _bump(conn, task.batch_id, "failed", now)
            return done

        return await self.db.write(work)

    async def retry_later(
        self, task: Task, worker_id: str, end: AttemptEnd, not_before: datetime, now: datetime
    ) -> bool:
        """Back to pending until `not_before` (a retryable error)."""

        def work(conn: Connection) -> bool:
            result = conn.execute(
                _owned(task, worker_id).values(
                    status=TaskStatus.PENDING.value,
                    lease_owner=None,
                    lease_until=None,
                    not_before=not_before,
                    error_kind=end.error_kind,
                    error_message=end.error_message,
                )
            )
            if result.rowcount:
                _close_attempt(conn, task, end, now)
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
                .values(ended_at=now, outcome="released")
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
            return _reap_expired(conn, now)

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

    async def succeeded_outputs(self, request_keys: Sequence[str]) -> dict[str, int]:
        """Output image ids of succeeded tasks with these request keys (for --reuse)."""

        def work(conn: Connection) -> dict[str, int]:
            return _succeeded_outputs(conn, list(dict.fromkeys(request_keys)))

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


def _owned(task: Task, worker_id: str) -> Any:
    return update(tasks).where(
        tasks.c.id == task.id,
        tasks.c.lease_owner == worker_id,
        tasks.c.status == TaskStatus.RUNNING.value,
    )


def _finish(
    conn: Connection,
    task: Task,
    worker_id: str,
    status: TaskStatus,
    now: datetime,
    **values: Any,
) -> bool:
    result = conn.execute(
        _owned(task, worker_id).values(
            status=status.value, lease_owner=None, lease_until=None, finished_at=now, **values
        )
    )
    return bool(result.rowcount)


class _LostTask(Exception):
    """Our lease on the task is gone: undo the whole transaction."""


def _bump(conn: Connection, batch_id: int, counter: str, now: datetime) -> None:
    column = batches.c[counter]
    done = batches.c.succeeded + batches.c.failed + batches.c.cancelled >= batches.c.total
    finished = conn.execute(
        update(batches)
        .where(batches.c.id == batch_id)
        .values({counter: column + 1})
        .returning(done)
    ).scalar()
    if finished:
        settle_if_done(conn, {batch_id}, now)


def _open_attempts(conn: Connection, claimed: list[Task], worker_id: str, now: datetime) -> None:
    rows = [
        {"task_id": t.id, "number": t.attempts, "worker_id": worker_id, "started_at": now}
        for t in claimed
    ]
    conn.execute(insert(attempts), rows)


def _close_attempt(conn: Connection, task: Task, end: AttemptEnd, now: datetime) -> None:
    conn.execute(
        update(attempts)
        .where(
            attempts.c.task_id == task.id,
            attempts.c.number == task.attempts,
            attempts.c.ended_at.is_(None),
        )
        .values(
            ended_at=now,
            outcome=end.outcome,
            latency_ms=end.latency_ms,
            error_kind=end.error_kind,
            error_message=end.error_message,
            provider_request_id=end.provider_request_id,
        )
    )


def _mark_batches_started(conn: Connection, batch_ids: set[int], now: datetime) -> None:
    conn.execute(
        update(batches)
        .where(batches.c.id.in_(batch_ids), batches.c.status == BatchStatus.QUEUED.value)
        .values(
            status=BatchStatus.RUNNING.value, started_at=func.coalesce(batches.c.started_at, now)
        )
    )


def _reap_expired(conn: Connection, now: datetime) -> int:
    """Running tasks whose lease ran out go back to pending (or fail, if they keep losing it)."""
    expired = and_(tasks.c.status == TaskStatus.RUNNING.value, tasks.c.lease_until < now)
    lost = (
        conn.execute(
            update(tasks)
            .where(expired)
            .values(
                status=TaskStatus.PENDING.value,
                lease_owner=None,
                lease_until=None,
                lost_leases=tasks.c.lost_leases + 1,
                attempts=tasks.c.attempts - 1,  # a dead worker is not the request's fault
            )
            .returning(tasks.c.id, tasks.c.batch_id, tasks.c.lost_leases)
        )
    ).all()
    if not lost:
        return 0
    conn.execute(
        update(attempts)
        .where(attempts.c.task_id.in_([r.id for r in lost]), attempts.c.ended_at.is_(None))
        .values(
            ended_at=now,
            outcome="lost",
            error_kind="WorkerLost",
            error_message="the worker stopped answering; its lease expired",
        )
    )
    poisoned = [r for r in lost if r.lost_leases >= MAX_LOST_LEASES]
    for row in poisoned:
        conn.execute(
            update(tasks)
            .where(tasks.c.id == row.id)
            .values(
                status=TaskStatus.FAILED.value,
                finished_at=now,
                error_kind="WorkerLost",
                error_message=f"{MAX_LOST_LEASES} workers died while running this task",
            )
        )
        _bump(conn, row.batch_id, "failed", now)
    return len(lost)


def _succeeded_outputs(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        rows = conn.execute(
            select(tasks.c.request_key, tasks.c.output_image_id).where(
                tasks.c.request_key.in_(keys[start : start + 500]),
                tasks.c.status == TaskStatus.SUCCEEDED.value,
                tasks.c.output_image_id.is_not(None),
            )
        )
        found.update({key: image_id for key, image_id in rows.all()})  # noqa: C416
    return found
