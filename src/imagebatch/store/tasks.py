"""TaskRepo: reading tasks and the user's commands on them (cancel, retry)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update

from imagebatch.domain.attempts import AttemptOutcome
from imagebatch.domain.records import Task
from imagebatch.domain.states import (
    BatchStatus,
    TaskStatus,
    batch_sources,
    check_batch_transition,
    check_task_transition,
    task_sources,
)
from imagebatch.errors import IllegalTransition, NotFound
from imagebatch.store import ledger
from imagebatch.store.batches import _get as get_batch
from imagebatch.store.batches import settle_if_done
from imagebatch.store.db import Database
from imagebatch.store.outbox import enqueue_batch_ended
from imagebatch.store.rows import task_from_row
from imagebatch.store.tables import attempts, batches, images, tasks


class TaskRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, task_id: int) -> Task:
        row = await self.db.read(
            lambda conn: conn.execute(select(tasks).where(tasks.c.id == task_id)).first()
        )
        if row is None:
            raise NotFound(f"no task {task_id}")
        return task_from_row(row)

    async def page(
        self,
        batch_id: int,
        status: TaskStatus | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Task]:
        """Tasks of a batch in order, `limit` at a time after `after_id` (cursor paging)."""
        return [task_from_row(row) for row in await self._page(batch_id, status, after_id, limit)]

    async def page_columns(
        self,
        batch_id: int,
        status: TaskStatus | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """page() as each row's column values, for a caller that turns many rows into
        something else at once (the API's task pages, polled often): building Task records
        in between cost more than the query."""
        rows = await self._page(batch_id, status, after_id, limit)
        keys = tuple(rows[0]._fields) if rows else ()
        return [dict(zip(keys, row, strict=True)) for row in rows]

    async def _page(
        self, batch_id: int, status: TaskStatus | None, after_id: int, limit: int
    ) -> Sequence[Row[Any]]:
        query = _PAGE if status is None else _PAGE_IN_STATUS
        params: dict[str, object] = {"batch_id": batch_id, "after_id": after_id, "limit": limit}
        if status is not None:
            params["status"] = status.value
        return await self.db.read_small(lambda conn: conn.execute(query, params).all())

    async def attempts_of(self, task_id: int) -> list[dict[str, object]]:
        query = select(attempts).where(attempts.c.task_id == task_id).order_by(attempts.c.number)

        def work(conn: Connection) -> list[dict[str, object]]:
            return [dict(row._mapping) for row in (conn.execute(query)).all()]

        return await self.db.read(work)

    async def cancel_batch(self, batch_id: int, now: datetime) -> int:
        """Cancel every unfinished task at once, running ones included: their workers see
        their lease gone at the next heartbeat and abandon the provider call."""

        def work(conn: Connection) -> int:
            batch = get_batch(conn, batch_id)
            check_batch_transition(batch.status, BatchStatus.CANCELLED)
            unfinished = tasks.c.status.in_(_values(task_sources(TaskStatus.CANCELLED)))
            # Lock the rows in id order first, as group commits take them (PostgreSQL's UPDATE
            # takes them in whatever order it scans).
            conn.execute(
                select(tasks.c.id)
                .where(tasks.c.batch_id == batch_id, unfinished)
                .order_by(tasks.c.id)
                .with_for_update()
            )
            cancelled = conn.execute(
                update(tasks)
                .where(tasks.c.batch_id == batch_id, unfinished)
                .values(
                    status=TaskStatus.CANCELLED.value,
                    lease_owner=None,
                    lease_until=None,
                    finished_at=now,
                )
                .returning(tasks.c.id, tasks.c.owner, tasks.c.price)
            ).all()
            ledger.settle_unsuccessful(
                conn, [ledger.Priced(r.owner, batch_id, r.id, r.price) for r in cancelled], now
            )
            conn.execute(
                update(attempts)
                .where(
                    attempts.c.task_id.in_(select(tasks.c.id).where(tasks.c.batch_id == batch_id)),
                    attempts.c.ended_at.is_(None),
                )
                .values(ended_at=now, outcome=AttemptOutcome.CANCELLED.value)
            )
            conn.execute(
                update(batches)
                .where(batches.c.id == batch_id)
                .values(
                    cancelled=batches.c.cancelled + len(cancelled),
                    status=BatchStatus.CANCELLED.value,
                    finished_at=now,
                )
            )
            enqueue_batch_ended(conn, batch_id, now)
            return len(cancelled)

        return await self.db.write(work)

    async def retry_failed(self, batch_id: int, now: datetime) -> int:
        """Send every failed task of a batch back to the queue with a fresh attempt budget."""

        def work(conn: Connection) -> int:
            batch = get_batch(conn, batch_id)
            if batch.status is BatchStatus.CANCELLED:
                raise IllegalTransition(
                    f"batch {batch_id} was cancelled; it cannot be retried",
                    code="batch_state",
                    params={"id": batch_id, "status": batch.status.value},
                )
            # Locked, in id order as everyone takes them: a second retry of the same batch
            # waits here, then finds these tasks pending, so nothing is requeued (or
            # reserved) twice. SQLite's single writer already runs retries one at a time.
            failed = conn.execute(
                select(tasks.c.id)
                .where(tasks.c.batch_id == batch_id, tasks.c.status == TaskStatus.FAILED.value)
                .order_by(tasks.c.id)
                .with_for_update()
            ).scalars()
            return _requeue(conn, batch_id, list(failed.all()), now)

        return await self.db.write(work)

    async def retry_task(self, task_id: int, now: datetime) -> Task:
        def work(conn: Connection) -> None:
            # Locked: a parallel retry of the same task waits, then sees it pending (409).
            row = conn.execute(select(tasks).where(tasks.c.id == task_id).with_for_update()).first()
            if row is None:
                raise NotFound(f"no task {task_id}")
            task = task_from_row(row)
            check_task_transition(task.status, TaskStatus.PENDING)
            if task.status is not TaskStatus.FAILED:
                raise IllegalTransition(
                    f"task {task_id} is {task.status}; only failed tasks retry",
                    code="task_state",
                    params={"id": task_id, "status": task.status.value},
                )
            _requeue(conn, task.batch_id, [task_id], now)

        await self.db.write(work)
        return await self.get(task_id)

    async def retry_many(self, task_ids: list[int], owner: str | None, now: datetime) -> list[Task]:
        """retry_task() for several tasks in one transaction, their credits reserved together:
        all of them go back to the queue, or none (NotFound, IllegalTransition naming those
        not failed, InsufficientCredits). `owner` None: any owner's (an admin)."""
        wanted = sorted(set(task_ids))

        def work(conn: Connection) -> list[Task]:
            query = select(tasks).where(tasks.c.id.in_(wanted)).order_by(tasks.c.id)
            if owner is not None:
                query = query.where(tasks.c.owner == owner)
            found = [task_from_row(row) for row in conn.execute(query.with_for_update())]
            missing = sorted(set(wanted) - {task.id for task in found})
            if missing:
                raise NotFound(f"no task {', '.join(map(str, missing[:20]))}")
            not_failed = [task.id for task in found if task.status is not TaskStatus.FAILED]
            if not_failed:
                raise IllegalTransition(
                    f"only failed tasks retry; not failed: {', '.join(map(str, not_failed[:20]))}",
                    code="task_state",
                    params={"ids": ", ".join(map(str, not_failed[:20]))},
                )
            by_batch: dict[int, list[int]] = {}
            for task in found:
                by_batch.setdefault(task.batch_id, []).append(task.id)
            for batch_id, ids in by_batch.items():
                _requeue(conn, batch_id, ids, now)
            return found

        return await self.db.write(work)

    async def status_counts(self) -> dict[TaskStatus, int]:
        query = select(tasks.c.status, func.count()).group_by(tasks.c.status)

        rows = await self.db.read(lambda conn: conn.execute(query).all())
        counts = dict.fromkeys(TaskStatus, 0)
        counts.update({TaskStatus(s): n for s, n in rows})
        return counts


# Pages are polled often: their statements are built once (building one costs more of our
# CPU than SQLite spends running it).
_PAGE = (
    # the output's size comes along: a gallery lays cards out by it before loading them
    select(tasks, images.c.width, images.c.height)
    .select_from(tasks.outerjoin(images, images.c.id == tasks.c.output_image_id))
    .where(tasks.c.batch_id == bindparam("batch_id"), tasks.c.id > bindparam("after_id"))
    .order_by(tasks.c.id)
    .limit(bindparam("limit"))
)
_PAGE_IN_STATUS = _PAGE.where(tasks.c.status == bindparam("status"))


def _requeue(conn: Connection, batch_id: int, ids: list[int], now: datetime) -> int:
    if not ids:
        return 0
    batch = get_batch(conn, batch_id)
    price = conn.execute(select(func.sum(tasks.c.price)).where(tasks.c.id.in_(ids))).scalar()
    ledger.reserve(conn, batch.owner, batch_id, int(price or 0), now, note="tasks retried")
    conn.execute(
        update(tasks)
        .where(tasks.c.id.in_(ids), tasks.c.status == TaskStatus.FAILED.value)
        .values(
            status=TaskStatus.PENDING.value,
            attempts=0,
            lost_leases=0,
            not_before=None,
            error_kind=None,
            error_message=None,
            finished_at=None,
        )
    )
    values: dict[str, object] = {"failed": batches.c.failed - len(ids), "finished_at": None}
    if batch.status in batch_sources(BatchStatus.RUNNING) and batch.status.terminal:
        values["status"] = check_batch_transition(batch.status, BatchStatus.RUNNING).value
    conn.execute(update(batches).where(batches.c.id == batch_id).values(values))
    settle_if_done(conn, {batch_id}, now)
    return len(ids)


def _values(states: frozenset[TaskStatus]) -> list[str]:
    return [s.value for s in states]
