"""Recording many successful tasks at once: the statements behind a worker's group commit.

A fixed number of statements per group, whatever its size: which tasks are still ours, one
multi-row upsert of their output images (images.upsert_images), one executemany each for
the tasks and their attempts. A statement per task was most of a group commit's cost
(SQLAlchemy's Python per statement, not SQLite's work); these now run on the driver's cursor
(store/driver.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from imagebatch.domain.attempts import AttemptEnd
from imagebatch.domain.records import Task
from imagebatch.domain.states import TaskStatus
from imagebatch.store.driver import Sql, execute, executemany
from imagebatch.store.images import NewImage, upsert_images
from imagebatch.store.transitions import (
    CLOSE_ATTEMPT,
    FINISH,
    close_attempt_params,
    finish_params,
)

Completion = tuple[Task, NewImage, AttemptEnd]

# Locked in id order (as every writer takes task rows) so two writers never wait in a circle;
# SQLite's write transaction is exclusive already.
_STILL_OURS = Sql(
    f"""SELECT tasks.id FROM tasks
    WHERE tasks.id IN :ids[] AND tasks.lease_owner = :worker
    AND +tasks.status = '{TaskStatus.RUNNING.value}' ORDER BY tasks.id""",
    locking="FOR UPDATE",
)


def complete_many(
    conn: Connection, worker_id: str, items: Sequence[Completion], now: datetime
) -> dict[int, int]:
    """Record the items whose task we still lease: {task id: output image id}. A task we lost
    (its lease expired, or it was cancelled) is left alone and leaves no image row behind."""
    if not items:
        return {}
    params = {"ids": [task.id for task, _, _ in items], "worker": worker_id}
    ours = {task_id for (task_id,) in execute(conn, _STILL_OURS, params).fetchall()}
    mine = [item for item in items if item[0].id in ours]
    if not mine:
        return {}
    image_ids = upsert_images(conn, [image for _, image, _ in mine], now)
    done = {task.id: image_ids[image.sha256] for task, image, _ in mine}
    executemany(
        conn,
        FINISH,
        [
            finish_params(task, worker_id, TaskStatus.SUCCEEDED, now, image_id=done[task.id])
            for task, _, _ in mine
        ],
    )
    executemany(
        conn, CLOSE_ATTEMPT, [close_attempt_params(task, end, now) for task, _, end in mine]
    )
    return done
