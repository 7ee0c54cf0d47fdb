from __future__ import annotations

import pytest

from imagebatch.domain.states import (
    BatchStatus,
    TaskStatus,
    check_batch_transition,
    check_task_transition,
    settled_batch_status,
    task_sources,
)
from imagebatch.errors import IllegalTransition

T, B = TaskStatus, BatchStatus


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (T.PENDING, T.RUNNING),
        (T.RUNNING, T.SUCCEEDED),
        (T.RUNNING, T.FAILED),
        (T.RUNNING, T.PENDING),
        (T.RUNNING, T.CANCELLED),
        (T.PENDING, T.CANCELLED),
        (T.FAILED, T.PENDING),
    ],
)
def test_allowed_task_transitions(old: TaskStatus, new: TaskStatus) -> None:
    assert check_task_transition(old, new) is new


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (T.PENDING, T.SUCCEEDED),
        (T.PENDING, T.FAILED),
        (T.SUCCEEDED, T.PENDING),
        (T.SUCCEEDED, T.FAILED),
        (T.CANCELLED, T.PENDING),
        (T.FAILED, T.SUCCEEDED),
        (T.RUNNING, T.RUNNING),
    ],
)
def test_illegal_task_transitions_raise(old: TaskStatus, new: TaskStatus) -> None:
    with pytest.raises(IllegalTransition, match=f"from {old} to {new}"):
        check_task_transition(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (B.QUEUED, B.RUNNING),
        (B.RUNNING, B.PAUSED),
        (B.PAUSED, B.RUNNING),
        (B.RUNNING, B.COMPLETED),
        (B.RUNNING, B.COMPLETED_WITH_FAILURES),
        (B.RUNNING, B.CANCELLED),
        (B.PAUSED, B.CANCELLED),
        (B.COMPLETED_WITH_FAILURES, B.RUNNING),
    ],
)
def test_allowed_batch_transitions(old: BatchStatus, new: BatchStatus) -> None:
    assert check_batch_transition(old, new) is new


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (B.COMPLETED, B.RUNNING),
        (B.CANCELLED, B.RUNNING),
        (B.QUEUED, B.COMPLETED),
        (B.COMPLETED, B.PAUSED),
        (B.CANCELLED, B.PAUSED),
    ],
)
def test_illegal_batch_transitions_raise(old: BatchStatus, new: BatchStatus) -> None:
    with pytest.raises(IllegalTransition):
        check_batch_transition(old, new)


def test_terminal_states_have_no_way_out_but_retry() -> None:
    assert T.SUCCEEDED.terminal and T.FAILED.terminal and not T.RUNNING.terminal
    assert B.COMPLETED.terminal and not B.PAUSED.terminal


def test_sources_for_bulk_cancel() -> None:
    assert task_sources(T.CANCELLED) == {T.PENDING, T.RUNNING}


def test_settled_status() -> None:
    assert settled_batch_status(failed=0, cancelled=0) is B.COMPLETED
    assert settled_batch_status(failed=1, cancelled=0) is B.COMPLETED_WITH_FAILURES
    assert settled_batch_status(failed=0, cancelled=2) is B.CANCELLED
