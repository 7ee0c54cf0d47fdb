"""The statements behind QueueRepo: each ends a task, an attempt or a lease one way.

Built once at import: building SQLAlchemy statements costs more of our CPU than SQLite
spends running them. Those every task runs are SQL text for the driver's cursor
(store/driver.py); the rare ones stay SQLAlchemy Core.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from imagebatch.domain.attempts import AttemptEnd, AttemptOutcome
from imagebatch.domain.records import Task
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.store import ledger
from imagebatch.store.batches import settle_if_done
from imagebatch.store.driver import RowReader, Sql, execute, executemany
from imagebatch.store.rows import task_from_row
from imagebatch.store.tables import attempts, tasks

#: a task whose worker died this many times is failed rather than handed out again
MAX_LOST_LEASES = 5


_RUNNING = f"'{TaskStatus.RUNNING.value}'"
# The statements every task's claim and end run go to the driver's cursor (store/driver.py).
CLAIM = Sql(
    f"""UPDATE tasks SET status = {_RUNNING}, lease_owner = :worker, lease_until = :until,
    attempts = tasks.attempts + 1, started_at = coalesce(tasks.started_at, :now),
    not_before = NULL
    WHERE tasks.id IN :ids[] AND +tasks.status = '{TaskStatus.PENDING.value}'
    RETURNING {", ".join(tasks.columns.keys())}"""
)
TASK_ROWS = RowReader(tasks)
FINISH = Sql(
    f"""UPDATE tasks SET status = :new_status, lease_owner = NULL, lease_until = NULL,
    finished_at = :now, output_image_id = :image_id, seed_used = :seed_used,
    error_kind = :e_kind, error_message = :e_message
    WHERE tasks.id = :task_id AND tasks.lease_owner = :worker AND tasks.status = {_RUNNING}"""
)
_OPEN_ATTEMPT = Sql(
    """INSERT INTO attempts (task_id, number, worker_id, started_at)
    VALUES (:task_id, :number, :worker_id, :started_at)"""
)
CLOSE_ATTEMPT = Sql(
    """UPDATE attempts SET ended_at = :now, outcome = :a_outcome, latency_ms = :a_latency,
    error_kind = :e_kind, error_message = :e_message, provider_request_id = :request_id
    WHERE attempts.task_id = :a_task AND attempts.number = :a_number
    AND attempts.ended_at IS NULL"""
)
_BUMP = {
    counter: Sql(
        f"""UPDATE batches SET {counter} = batches.{counter} + :n WHERE batches.id = :batch_id
        RETURNING batches.succeeded + batches.failed + batches.cancelled >= batches.total"""
    )
    for counter in ("succeeded", "failed")
}
_MARK_STARTED = Sql(
    f"""UPDATE batches SET status = '{BatchStatus.RUNNING.value}',
    started_at = coalesce(batches.started_at, :now)
    WHERE batches.id IN :batch_ids[] AND batches.status = '{BatchStatus.QUEUED.value}'"""
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


def claim_tasks(
    conn: Connection, ids: Sequence[int], worker_id: str, until: datetime, now: datetime
) -> list[Task]:
    """Lease these tasks (those still pending) to `worker_id` until `until`."""
    params = {"ids": ids, "worker": worker_id, "until": until, "now": now}
    return [task_from_row(row) for row in TASK_ROWS.all(conn, execute(conn, CLAIM, params))]


def finish(conn: Connection, params: dict[str, Any]) -> bool:
    """FINISH one task (finish_params); False if the task is no longer ours."""
    return bool(execute(conn, FINISH, params).rowcount)


def bump(conn: Connection, batch_id: int, counter: str, now: datetime, n: int = 1) -> None:
    [(done,)] = execute(conn, _BUMP[counter], {"batch_id": batch_id, "n": n}).fetchall()
    if done:
        settle_if_done(conn, {batch_id}, now)


def open_attempts(conn: Connection, claimed: list[Task], worker_id: str, now: datetime) -> None:
    rows = [
        {"task_id": t.id, "number": t.attempts, "worker_id": worker_id, "started_at": now}
        for t in claimed
    ]
    executemany(conn, _OPEN_ATTEMPT, rows)


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
    execute(conn, CLOSE_ATTEMPT, close_attempt_params(task, end, now))


def mark_batches_started(conn: Connection, batch_ids: set[int], now: datetime) -> None:
    if batch_ids:
        execute(conn, _MARK_STARTED, {"batch_ids": sorted(batch_ids), "now": now})


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
