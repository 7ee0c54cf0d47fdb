"""BatchRepo: creating batches with their tasks, reading them, changing their status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, cast, func, insert, literal, select, update

from imagebatch.domain.records import Batch, NewBatch, NewTask
from imagebatch.domain.states import (
    BatchStatus,
    TaskStatus,
    check_batch_transition,
    settled_batch_status,
)
from imagebatch.errors import NotFound, TooManyActiveTasks
from imagebatch.store import ledger
from imagebatch.store.access import grant_access
from imagebatch.store.db import Database
from imagebatch.store.outbox import enqueue_batch_ended
from imagebatch.store.rows import batch_from_row, request_columns
from imagebatch.store.tables import batches, tasks
from imagebatch.store.tables_accounts import users

#: task rows per INSERT statement when a batch is created
INSERT_CHUNK = 500


class BatchRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        new: NewBatch,
        new_tasks: Sequence[NewTask],
        now: datetime,
        max_active: int | None = None,
    ) -> Batch:
        """Store a batch and all its tasks in one transaction: all or nothing. With
        `max_active`, refuse it (TooManyActiveTasks) if the owner's unfinished tasks and
        this batch's would together pass that limit."""
        return await self.db.write(lambda conn: _create(conn, new, new_tasks, now, max_active))

    async def check_room(self, owner: str, requested: int, limit: int | None) -> None:
        """What create() would say about the limit, without holding anything (a dry run)."""
        if limit is not None:
            await self.db.read(lambda conn: _check_room(conn, owner, requested, limit))

    async def get(self, batch_id: int) -> Batch:
        return await self.db.read_small(lambda conn: _get(conn, batch_id))

    async def find_by_fingerprint(self, fingerprint: str) -> Batch | None:
        query = (
            select(batches)
            .where(batches.c.fingerprint == fingerprint)
            .order_by(batches.c.id.desc())
            .limit(1)
        )
        row = await self.db.read(lambda conn: conn.execute(query).first())
        return batch_from_row(row) if row else None

    async def page(
        self,
        owner: str | None,
        status: BatchStatus | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[Batch]:
        """Newest first, `limit` at a time before `before_id` (cursor paging)."""
        query = _SHOWN.order_by(batches.c.id.desc()).limit(limit)
        if owner is not None:
            query = query.where(batches.c.owner == owner)
        if status is not None:
            query = query.where(batches.c.status == status.value)
        if before_id is not None:
            query = query.where(batches.c.id < before_id)
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [batch_from_row(row) for row in rows]

    async def task_counts(self, batch_id: int) -> dict[TaskStatus, int]:
        query = (
            select(tasks.c.status, func.count())
            .where(tasks.c.batch_id == batch_id)
            .group_by(tasks.c.status)
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        counts = dict.fromkeys(TaskStatus, 0)
        counts.update({TaskStatus(status): n for status, n in rows})
        return counts

    async def change_status(self, batch_id: int, new: BatchStatus, now: datetime) -> Batch:
        """Pause or resume; raises IllegalTransition when the state machine forbids it."""

        def work(conn: Connection) -> Batch:
            current = _get(conn, batch_id)
            status = check_batch_transition(current.status, new)
            if status is BatchStatus.RUNNING and current.started_at is None:
                status = BatchStatus.QUEUED  # resuming a batch paused before it started
            _set_status(conn, batch_id, status, now)
            return _get(conn, batch_id)

        return await self.db.write(work)


def _create(
    conn: Connection,
    new: NewBatch,
    new_tasks: Sequence[NewTask],
    now: datetime,
    max_active: int | None,
) -> Batch:
    reused = sum(1 for t in new_tasks if t.reuse_image_id is not None)
    if max_active is not None:
        _lock_owner(conn, new.owner)
        _check_room(conn, new.owner, len(new_tasks) - reused, max_active)
    values = _batch_values(new, len(new_tasks), reused, now)
    batch_id = conn.execute(insert(batches).values(values).returning(batches.c.id)).scalar_one()
    _insert_tasks(conn, batch_id, new, new_tasks, now)
    if reused:
        conn.execute(_REUSED_SEEDS, {"reusing_batch": batch_id})
    grant_access(conn, new.owner, [i for t in new_tasks for i in t.request.images])
    price = sum(t.price for t in new_tasks if t.reuse_image_id is None)
    ledger.reserve(conn, new.owner, batch_id, price, now)
    if reused == len(new_tasks):
        _set_status(conn, batch_id, BatchStatus.COMPLETED, now)
    return _get(conn, batch_id)


def _insert_tasks(
    conn: Connection, batch_id: int, new: NewBatch, new_tasks: Sequence[NewTask], now: datetime
) -> None:
    """The tasks a chunk at a time, each chunk's rows built just before it goes: the
    thread's Python work comes in chunk-sized runs between the statements (which let the GIL
    go row by row), rather than 10,000 rows' worth in one run that the event loop's reads
    would wait behind. Still one transaction: all or nothing."""
    for start in range(0, len(new_tasks), INSERT_CHUNK):
        chunk = new_tasks[start : start + INSERT_CHUNK]
        conn.execute(insert(tasks), [_task_values(batch_id, new, t, now) for t in chunk])


# Built once: building a statement costs more of our CPU than SQLite spends running it.
# The owner's account name beside each batch shown to people (owner keys are "user:<id>",
# domain/owners.py; a CLI owner matches no account and shows no name).
_OWNER_NAME = (
    select(users.c.name)
    .where(literal("user:", String) + cast(users.c.id, String) == batches.c.owner)
    .scalar_subquery()
    .label("owner_name")
)
_SHOWN = select(batches, _OWNER_NAME)
_BY_ID = _SHOWN.where(batches.c.id == bindparam("batch_id"))

# A reused output was made with the seed its first task recorded: the new task records it too.
_EARLIER = tasks.alias("earlier")
_REUSED_SEEDS = (
    update(tasks)
    .where(tasks.c.batch_id == bindparam("reusing_batch"), tasks.c.reused == 1)
    .values(
        seed_used=select(_EARLIER.c.seed_used)
        .where(
            _EARLIER.c.owner == tasks.c.owner,
            _EARLIER.c.request_key == tasks.c.request_key,
            _EARLIER.c.output_image_id == tasks.c.output_image_id,
            _EARLIER.c.seed_used.is_not(None),
        )
        .limit(1)
        .scalar_subquery()
    )
)

#: what the queue has not finished: waiting (backoff delays included) or leased by a worker
_ACTIVE = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)
# Served by ix_tasks_claim (status, owner, ...): an index range, not a scan of the table.
_ACTIVE_COUNT = select(func.count()).where(
    tasks.c.status.in_(_ACTIVE), tasks.c.owner == bindparam("owner")
)


def _lock_owner(conn: Connection, owner: str) -> None:
    """Hold the owner's row to the end of the transaction: on PostgreSQL, two batches of one
    user are then counted one after the other, never both against the same total (SQLite's
    single writer already serialises them)."""
    conn.execute(select(users.c.id).where(ledger.owned_by(owner)).with_for_update())


def _check_room(conn: Connection, owner: str, requested: int, limit: int) -> None:
    if not requested:
        return  # nothing new to run (every task reused an output)
    active = int(conn.execute(_ACTIVE_COUNT, {"owner": owner}).scalar_one())
    if active + requested > limit:
        raise TooManyActiveTasks(limit, active, requested)


def _get(conn: Connection, batch_id: int) -> Batch:
    row = conn.execute(_BY_ID, {"batch_id": batch_id}).first()
    if row is None:
        raise NotFound(f"no batch {batch_id}")
    return batch_from_row(row)


def _set_status(conn: Connection, batch_id: int, status: BatchStatus, now: datetime) -> None:
    values: dict[str, Any] = {"status": status.value}
    if status.terminal:
        values["finished_at"] = now
    conn.execute(update(batches).where(batches.c.id == batch_id).values(values))


def settle_if_done(conn: Connection, batch_ids: set[int], now: datetime) -> None:
    """Give batches whose tasks have all ended their final status."""
    query = select(batches).where(
        batches.c.id.in_(batch_ids),
        batches.c.status.in_([BatchStatus.RUNNING.value, BatchStatus.PAUSED.value]),
        batches.c.succeeded + batches.c.failed + batches.c.cancelled >= batches.c.total,
    )
    for row in conn.execute(query).all():
        batch = batch_from_row(row)
        final = check_batch_transition(
            batch.status, settled_batch_status(batch.failed, batch.cancelled)
        )
        _set_status(conn, batch.id, final, now)
        enqueue_batch_ended(conn, batch.id, now)


def _batch_values(new: NewBatch, total: int, reused: int, now: datetime) -> dict[str, Any]:
    return {
        "name": new.name,
        "owner": new.owner,
        "mode": new.mode.value,
        "provider": new.provider,
        "model": new.model,
        "params": {},  # a column no batch option fills (yet): each task holds its own
        "priority": new.priority,
        "status": BatchStatus.QUEUED.value,
        "total": total,
        "succeeded": reused,
        "failed": 0,
        "cancelled": 0,
        "fingerprint": new.fingerprint,
        "out_dir": new.out_dir,
        "webhook_url": new.webhook_url,
        "economy": new.economy,
        "created_at": now,
        "name_code": new.name_code,
        "name_params": new.name_params,
    }


def _task_values(batch_id: int, batch: NewBatch, t: NewTask, now: datetime) -> dict[str, Any]:
    reused = t.reuse_image_id is not None
    return {
        "batch_id": batch_id,
        "owner": batch.owner,
        "priority": batch.priority,
        "provider": t.provider or batch.provider,
        "model": t.model or batch.model,
        "seq": t.seq,
        "status": (TaskStatus.SUCCEEDED if reused else TaskStatus.PENDING).value,
        **request_columns(t.request),
        "user_prompt": t.user_prompt,
        "output_filename": t.output_filename,
        "source": t.source,
        "request_key": t.request_key,
        "attempts": 0,
        "max_attempts": batch.max_attempts,
        "lost_leases": 0,
        "output_image_id": t.reuse_image_id,
        "reused": int(reused),
        "price": 0 if reused else t.price,
        "own_key": t.own_key,
        "created_at": now,
        "finished_at": now if reused else None,
    }
