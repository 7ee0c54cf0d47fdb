"""The statements behind QueueRepo: each ends a task, an attempt or a lease one way.

Built once at import: building SQLAlchemy statements costs more of our CPU than SQLite
spends running them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from imagebatch.domain.attempts import AttemptEnd, AttemptOutcome
from imagebatch.domain.records import Task
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.store import ledger
from imagebatch.store.batches import settle_if_done
from imagebatch.store.tables import attempts, batches, tasks

#: a task whose worker died this many times is failed rather than handed out again
MAX_LOST_LEASES = 5


_OWNED = (
    tasks.c.id == bindparam("task_id"),
    tasks.c.lease_owner == bindparam("worker"),
    tasks.c.status == TaskStatus.RUNNING.value,
)
CLAIM = (
    update(tasks)
    .where(
        tasks.c.id.in_(bindparam("ids", expanding=True)),
        tasks.c.status == TaskStatus.PENDING.value,
    )
    .values(
        status=TaskStatus.RUNNING.value,
        lease_owner=bindparam("worker"),
        lease_until=bindparam("until"),
        attempts=tasks.c.attempts + 1,
        started_at=func.coalesce(tasks.c.started_at, bindparam("now")),
        not_before=None,
    )
    .returning(*tasks.c)
)
FINISH = (
    update(tasks)
    .where(*_OWNED)
    .values(
        status=bindparam("new_status"),
        lease_owner=None,
        lease_until=None,
        finished_at=bindparam("now"),
        output_image_id=bindparam("image_id"),
        seed_used=bindparam("seed_used"),
        error_kind=bindparam("e_kind"),
        error_message=bindparam("e_message"),
    )
)
_OPEN_ATTEMPT = insert(attempts)
CLOSE_ATTEMPT = (
    update(attempts)
    .where(
        attempts.c.task_id == bindparam("a_task"),
        attempts.c.number == bindparam("a_number"),
        attempts.c.ended_at.is_(None),
    )
    .values(
        ended_at=bindparam("now"),
        outcome=bindparam("a_outcome"),
        latency_ms=bindparam("a_latency"),
        error_kind=bindparam("e_kind"),
        error_message=bindparam("e_message"),
        provider_request_id=bindparam("request_id"),
    )
)
_DONE = batches.c.succeeded + batches.c.failed + batches.c.cancelled >= batches.c.total
_BUMP = {
    counter: update(batches)
    .where(batches.c.id == bindparam("batch_id"))
    .values({counter: batches.c[counter] + bindparam("n")})
    .returning(_DONE)
    for counter in ("succeeded", "failed")
}
_MARK_STARTED = (
    update(batches)
    .where(
        batches.c.id.in_(bindparam("batch_ids", expanding=True)),
        batches.c.status == BatchStatus.QUEUED.value,
    )
    .values(
        status=BatchStatus.RUNNING.value,
        started_at=func.coalesce(batches.c.started_at, bindparam("now")),
    )
)
# On PostgreSQL, rows another transaction holds (a completion or a heartbeat in flight, so a
# live worker) are skipped rather than waited for: waiting could deadlock with a completion
# that holds them and waits for the claim turn the reaper holds. SQLite ignores FOR UPDATE.
_EXPIRED = (
    select(tasks.c.id)
    .where(tasks.c.status == TaskStatus.RUNNING.value, tasks.c.lease_until < bindparam("now"))
    .with_for_update(skip_locked=True)
)
_REAP = (
    update(tasks)
    .where(tasks.c.id.in_(_EXPIRED.scalar_subquery()))
    .values(
        status=TaskStatus.PENDING.value,
        lease_owner=None,
        lease_until=None,
        lost_leases=tasks.c.lost_leases + 1,
        attempts=tasks.c.attempts - 1,  # a dead worker is not the request's fault
    )
    .returning(tasks.c.id, tasks.c.batch_id, tasks.c.lost_leases, tasks.c.owner, tasks.c.price)
)


def owned(task: Task, worker_id: str) -> Any:
    return update(tasks).where(
        tasks.c.id == task.id,
        tasks.c.lease_owner == worker_id,
        tasks.c.status == TaskStatus.RUNNING.value,
    )


def finish_params(
    task: Task,
    worker_id: str,
    status: TaskStatus,
    now: datetime,
    *,
    image_id: int | None = None,
    end: AttemptEnd | None = None,
) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "worker": worker_id,
        "new_status": status.value,
        "now": now,
        "image_id": image_id,
        # the engine sets it from the provider's answer; it goes with the output
        "seed_used": task.seed_used if image_id is not None else None,
        "e_kind": end.error_kind if end else None,
        "e_message": end.error_message if end else None,
    }


def bump(conn: Connection, batch_id: int, counter: str, now: datetime, n: int = 1) -> None:
    if conn.execute(_BUMP[counter], {"batch_id": batch_id, "n": n}).scalar():
        settle_if_done(conn, {batch_id}, now)


def open_attempts(conn: Connection, claimed: list[Task], worker_id: str, now: datetime) -> None:
    rows = [
        {"task_id": t.id, "number": t.attempts, "worker_id": worker_id, "started_at": now}
        for t in claimed
    ]
    conn.execute(_OPEN_ATTEMPT, rows)


def close_attempt_params(task: Task, end: AttemptEnd, now: datetime) -> dict[str, Any]:
    return {
        "a_task": task.id,
        "a_number": task.attempts,
        "now": now,
        "a_outcome": end.outcome.value,
        "a_latency": end.latency_ms,
        "e_kind": end.error_kind,
        "e_message": end.error_message,
        "request_id": end.provider_request_id,
    }


def close_attempt(conn: Connection, task: Task, end: AttemptEnd, now: datetime) -> None:
    conn.execute(CLOSE_ATTEMPT, close_attempt_params(task, end, now))


def mark_batches_started(conn: Connection, batch_ids: set[int], now: datetime) -> None:
    conn.execute(_MARK_STARTED, {"batch_ids": list(batch_ids), "now": now})


def reap_expired(conn: Connection, now: datetime) -> int:
    """Running tasks whose lease ran out go back to pending (or fail, if they keep losing it)."""
    lost = conn.execute(_REAP, {"now": now}).all()
    if not lost:
        return 0
    conn.execute(
        update(attempts)
        .where(attempts.c.task_id.in_([r.id for r in lost]), attempts.c.ended_at.is_(None))
        .values(
            ended_at=now,
            outcome=AttemptOutcome.LOST.value,
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
        ledger.settle_unsuccessful(
            conn, [ledger.Priced(row.owner, row.batch_id, row.id, row.price)], now
        )
        bump(conn, row.batch_id, "failed", now)
    return len(lost)


def succeeded_outputs(conn: Connection, owner: str, keys: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        rows = conn.execute(
            select(tasks.c.request_key, tasks.c.output_image_id).where(
                tasks.c.owner == owner,
                tasks.c.request_key.in_(keys[start : start + 500]),
                tasks.c.status == TaskStatus.SUCCEEDED.value,
                tasks.c.output_image_id.is_not(None),
            )
        )
        found.update({key: image_id for key, image_id in rows.all()})  # noqa: C416
    return found
