"""The worker's book of running tasks, and the group commit that records their ends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from imagebatch.domain.events import EventKind
from imagebatch.engine.events import Event
from imagebatch.engine.relay import decode, encode
from imagebatch.engine.worker.book import Book, Phase
from imagebatch.engine.worker.group_commit import GroupCommit
from imagebatch.store.completions import Completion
from tests.unit.test_call_gate import task

NOON = datetime(2026, 1, 1, 12, tzinfo=UTC)


async def test_one_entry_per_task_from_claim_to_end() -> None:
    book, job = Book(), asyncio.current_task()
    assert job is not None
    first = book.add(task(1), job, NOON)
    book.add(task(2), job, NOON + timedelta(seconds=30))
    book.move(first, Phase.CALLING)
    assert first.slot.done() and book.count(Phase.CALLING) == 1
    assert [e.task.id for e in book.in_phase(Phase.WAITING)] == [2]

    book.renewed([2], NOON + timedelta(seconds=90))
    assert [e.task.id for e in book.expired(NOON + timedelta(seconds=60))] == [1]

    waiting = book.get(2)
    assert waiting is not None and book.remove(2) is waiting
    assert waiting.slot.cancelled()  # a wait for its slot ends with it
    assert book.ids() == [1] and book.count(Phase.WAITING) == 0


async def test_an_entry_is_removed_only_by_its_own_job() -> None:
    book = Book()
    old, new = asyncio.create_task(asyncio.sleep(0)), asyncio.create_task(asyncio.sleep(0))
    book.add(task(1), old, NOON)
    book.add(task(1), new, NOON)  # claimed again after its lease ran out
    assert book.remove(1, old) is None and len(book) == 1
    assert book.remove(1, new) is not None and len(book) == 0
    await asyncio.gather(old, new)


async def test_the_group_commit_records_what_ended_meanwhile_in_one_transaction() -> None:
    groups: list[int] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def record(items: list[Completion]) -> list[int | None]:
        groups.append(len(items))
        started.set()
        await release.wait()
        return [n for n, _ in enumerate(items)]

    group = GroupCommit(record)
    first = asyncio.create_task(group.add(None))  # type: ignore[arg-type]
    await started.wait()  # the first transaction runs: the next three wait for it to end
    rest = [asyncio.create_task(group.add(None)) for _ in range(3)]  # type: ignore[arg-type]
    release.set()
    assert await asyncio.gather(first, *rest) == [0, 0, 1, 2]
    assert groups == [1, 3]


def test_event_kinds_travel_as_their_text_and_unknown_ones_are_left_out() -> None:
    [payload] = encode("a", [Event(EventKind.CANCELLED, 7, status="cancelled")])
    assert '"cancelled"' in payload
    [event] = decode(payload, "b")
    assert event.kind is EventKind.CANCELLED and event.remote
    newer = payload.replace('"cancelled", 7', '"teleported", 7')
    assert decode(newer, "b") == []
