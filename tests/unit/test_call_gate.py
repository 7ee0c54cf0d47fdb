"""The call gate: who may call a provider now, hand-overs, and how many tasks to claim ahead."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from imagebatch.domain.claims import Claimed, ClaimLimits, Grant
from imagebatch.domain.records import Task
from imagebatch.domain.requests import ImageRequest
from imagebatch.domain.states import TaskStatus
from imagebatch.engine.worker.book import Book, Phase
from imagebatch.engine.worker.call_gate import AheadEstimate, CallGate


def task(task_id: int, provider: str = "demo", owner: str = "alice") -> Task:
    return Task(
        id=task_id,
        batch_id=1,
        owner=owner,
        provider=provider,
        model="m",
        seq=task_id,
        status=TaskStatus.RUNNING,
        request=ImageRequest(f"p{task_id}"),
        output_filename=f"{task_id}.png",
        request_key=str(task_id),
        attempts=1,
        max_attempts=3,
    )


def new_gate(capacity: int, claim_ahead: int | None = None) -> CallGate:
    return CallGate(Book(), capacity, claim_ahead)


def join(gate: CallGate, claimed: Claimed) -> None:
    """What a worker does with a claim: the tasks go in its book, then through the gate."""
    job = asyncio.current_task()
    assert job is not None
    for t in claimed.tasks:
        gate.book.add(t, job, datetime(2026, 1, 1, tzinfo=UTC))
    gate.admit(claimed)


def calling(gate: CallGate) -> set[int]:
    return {entry.task.id for entry in gate.book.in_phase(Phase.CALLING)}


def waiting(gate: CallGate) -> list[int]:
    return [entry.task.id for entry in gate.book.in_phase(Phase.WAITING)]


def finishing(gate: CallGate) -> set[int]:
    return {entry.task.id for entry in gate.book.in_phase(Phase.FINISHING)}


async def test_a_claim_lets_through_as_many_as_it_found_slots_first_come_first_served() -> None:
    gate = new_gate(capacity=10)
    join(
        gate, Claimed([task(1, "a"), task(2, "b"), task(3, "a"), task(4, "b")], Grant(3, {"a": 1}))
    )
    # provider a has one free slot of its own: task 3 waits, task 4 takes the third slot
    assert calling(gate) == {1, 2, 4}
    assert waiting(gate) == [3]


async def test_a_waiting_task_is_let_through_when_its_turn_comes() -> None:
    gate = new_gate(capacity=2)
    first, second = task(1), task(2)
    join(gate, Claimed([first, second], Grant(1)))
    waiter = asyncio.create_task(gate.wait(2))
    await asyncio.sleep(0)
    assert not waiter.done()
    gate.plan(ClaimLimits(1), None, 60)  # the limits as a claim sees them
    gate.call_over(first.id)
    await asyncio.wait_for(waiter, 1)
    assert calling(gate) == {2} and finishing(gate) == {1}


async def test_a_hand_over_keeps_every_limit() -> None:
    gate = new_gate(capacity=10)
    gate.plan(ClaimLimits(10, {"limited": 1}), None, 60)
    running = [task(1, "limited"), task(2, "free")]
    waiting = [task(3, "limited"), task(4, "free")]
    join(gate, Claimed([*running, *waiting], Grant(2, {"limited": 1})))
    assert calling(gate) == {1, 2}

    gate.call_over(running[1].id)  # a call to an unlimited provider frees no limited slot
    assert calling(gate) == {1, 4}
    gate.call_over(running[0].id)  # the limited provider's own slot: its waiting task takes it
    assert calling(gate) == {3, 4}


async def test_no_hand_over_above_a_limit_lowered_meanwhile_nor_while_stopping() -> None:
    gate = new_gate(capacity=10)
    gate.plan(ClaimLimits(3), None, 60)
    tasks = [task(i) for i in range(1, 6)]
    join(gate, Claimed(tasks, Grant(3)))
    gate.plan(ClaimLimits(2), None, 60)  # the global limit drops to 2
    gate.call_over(tasks[0].id)
    assert calling(gate) == {2, 3}  # still 2 calls: no hand-over
    gate.call_over(tasks[1].id)
    assert calling(gate) == {3, 4}  # under the new limit again: hand-overs resume
    gate.stopping = True
    gate.call_over(tasks[2].id)
    assert calling(gate) == {4} and waiting(gate) == [5]


async def test_a_plan_leaves_out_our_tasks_that_hold_no_slot_and_counts_their_owners() -> None:
    gate = new_gate(capacity=4, claim_ahead=2)
    first = task(1)
    join(gate, Claimed([first, task(2, owner="bob"), task(3)], Grant(1)))
    gate.plan(ClaimLimits(4), None, 60)
    gate.call_over(first.id)  # task 2 takes the slot; 1 is finishing, 3 waits

    refill = gate.plan(ClaimLimits(4), None, 60)

    assert refill is not None
    assert sorted(refill.not_calling) == [1, 3]
    assert list(refill.waiting) == ["alice"]
    assert (refill.slots, refill.ahead) == (3, 1)  # 4 slots - 1 call; 2 ahead - 1 waiting


async def test_no_plan_when_full_or_stopping() -> None:
    gate = new_gate(capacity=2, claim_ahead=0)
    join(gate, Claimed([task(1), task(2)], Grant(2)))
    assert gate.plan(ClaimLimits(2), None, 60) is None
    gate.stopping = True
    assert gate.plan(ClaimLimits(5), None, 60) is None


def test_tasks_are_claimed_ahead_only_when_calls_are_short() -> None:
    estimate = AheadEstimate()
    assert estimate.target(10) == 0  # nothing measured yet
    estimate.call_took(0.050)
    estimate.claim_took(0.004)
    assert estimate.target(10) == 2  # 10 slots end 0.8 times per claim; 3 claims' worth
    assert estimate.target(1) == 0
    slow = AheadEstimate()
    slow.call_took(60.0)
    slow.claim_took(0.010)
    assert slow.target(100) == 0  # real providers: a running task is always a call
    fast = AheadEstimate()
    fast.call_took(0.001)
    fast.claim_took(0.010)
    assert fast.target(5) == 5  # never more than the slots
