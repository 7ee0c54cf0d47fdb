"""Task and batch state machines: every status change goes through these tables."""

from __future__ import annotations

from enum import StrEnum

from imagebatch.errors import IllegalTransition


class TaskStatus(StrEnum):
    PENDING = "pending"  #: waiting for a worker (possibly until a backoff delay passes)
    RUNNING = "running"  #: claimed by a worker holding a lease
    SUCCEEDED = "succeeded"  #: has its output image
    FAILED = "failed"  #: gave up: a final error or retries exhausted
    CANCELLED = "cancelled"  #: its batch was cancelled before it finished

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_TASK_STATES


class BatchStatus(StrEnum):
    QUEUED = "queued"  #: created, no task claimed yet
    RUNNING = "running"  #: at least one task was claimed
    PAUSED = "paused"  #: no new task starts; running ones finish
    COMPLETED = "completed"  #: every task succeeded
    COMPLETED_WITH_FAILURES = "completed_with_failures"  #: all tasks ended, some failed
    CANCELLED = "cancelled"  #: stopped by the user

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_BATCH_STATES


TERMINAL_TASK_STATES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})
TERMINAL_BATCH_STATES = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.COMPLETED_WITH_FAILURES, BatchStatus.CANCELLED}
)

_T = TaskStatus
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    _T.PENDING: frozenset({_T.RUNNING, _T.CANCELLED}),
    # running -> pending: a retry after a retryable error, or a lease that expired
    _T.RUNNING: frozenset({_T.SUCCEEDED, _T.FAILED, _T.CANCELLED, _T.PENDING}),
    _T.SUCCEEDED: frozenset(),
    # failed -> pending: the user asked for a retry
    _T.FAILED: frozenset({_T.PENDING}),
    _T.CANCELLED: frozenset(),
}

_B = BatchStatus
BATCH_TRANSITIONS: dict[BatchStatus, frozenset[BatchStatus]] = {
    _B.QUEUED: frozenset({_B.RUNNING, _B.PAUSED, _B.CANCELLED}),
    _B.RUNNING: frozenset({_B.PAUSED, _B.COMPLETED, _B.COMPLETED_WITH_FAILURES, _B.CANCELLED}),
    # a paused batch still finishes when its last running tasks end
    _B.PAUSED: frozenset({_B.RUNNING, _B.CANCELLED, _B.COMPLETED, _B.COMPLETED_WITH_FAILURES}),
    _B.COMPLETED: frozenset(),
    # retrying failed tasks reopens the batch
    _B.COMPLETED_WITH_FAILURES: frozenset({_B.RUNNING}),
    _B.CANCELLED: frozenset(),
}


def check_task_transition(old: TaskStatus, new: TaskStatus) -> TaskStatus:
    if new not in TASK_TRANSITIONS[old]:
        raise IllegalTransition(
            f"a task cannot go from {old} to {new}",
            code="task_state",
            params={"status": old.value, "to": new.value},
        )
    return new


def check_batch_transition(old: BatchStatus, new: BatchStatus) -> BatchStatus:
    if new not in BATCH_TRANSITIONS[old]:
        raise IllegalTransition(
            f"a batch cannot go from {old} to {new}",
            code="batch_state",
            params={"status": old.value, "to": new.value},
        )
    return new


def task_sources(new: TaskStatus) -> frozenset[TaskStatus]:
    """The states from which a task may move to `new` (for bulk updates in SQL)."""
    return frozenset(old for old, targets in TASK_TRANSITIONS.items() if new in targets)


def batch_sources(new: BatchStatus) -> frozenset[BatchStatus]:
    """The states from which a batch may move to `new`."""
    return frozenset(old for old, targets in BATCH_TRANSITIONS.items() if new in targets)


def settled_batch_status(failed: int, cancelled: int) -> BatchStatus:
    """The final status of a batch whose tasks have all ended."""
    if failed:
        return BatchStatus.COMPLETED_WITH_FAILURES
    if cancelled:
        return BatchStatus.CANCELLED
    return BatchStatus.COMPLETED
