"""A worker's book of its running tasks: one entry per task, from its claim to its end.

An entry holds all the worker knows of a running task: its job (the asyncio task running the
attempt), its phase (waiting for a call slot, calling its provider, finishing) and until when
its lease surely holds.

The lease: a worker whose leases could not be renewed for a whole lease (the database
unreachable, a laptop asleep, a frozen VM) must give those calls up before it claims again:
the tasks may already run elsewhere, or be claimed by this very worker, whose id a late
result would match (the database could then not tell the old call's result from the new
one's).

Everything here runs on the event loop, without awaits: a task's entry changes in one step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from imagebatch.domain.records import Task


class Phase(Enum):
    WAITING = "waiting"  #: claimed (perhaps ahead of need), waiting for a call slot
    CALLING = "calling"  #: holds a call slot: its provider call is in flight
    #: call over, its output being stored and recorded (~10 ms, mostly waiting for the GIL
    #: and the group commit); it holds no call slot
    FINISHING = "finishing"


@dataclass(slots=True, eq=False)
class Entry:
    task: Task
    job: asyncio.Task[None]
    #: leased (claimed or renewed) until then, or later: the worker passes a time taken
    #: before the database set the lease, so the book never outlives the real lease
    lease_until: datetime
    #: resolved when the task may call its provider
    slot: asyncio.Future[None]
    phase: Phase = Phase.WAITING


class Book:
    def __init__(self) -> None:
        self._entries: dict[int, Entry] = {}
        #: the same entries by phase, each in the order it entered the phase (the waiting
        #: ones get a slot in that order)
        self._phases: dict[Phase, dict[int, Entry]] = {phase: {} for phase in Phase}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def ids(self) -> list[int]:
        return list(self._entries)

    def get(self, task_id: int) -> Entry | None:
        return self._entries.get(task_id)

    def add(self, task: Task, job: asyncio.Task[None], lease_until: datetime) -> Entry:
        """A claimed task, waiting for a call slot (replacing an entry of an earlier claim
        of the same task, whose lease ran out)."""
        self.remove(task.id)
        slot = asyncio.get_running_loop().create_future()
        entry = Entry(task, job, lease_until, slot)
        self._entries[task.id] = self._phases[Phase.WAITING][task.id] = entry
        return entry

    def remove(self, task_id: int, job: asyncio.Task[None] | None = None) -> Entry | None:
        """Take the task off the book (only if its entry is `job`'s, when given): it ended,
        or was given up. A wait for its slot ends."""
        entry = self._entries.get(task_id)
        if entry is None or (job is not None and entry.job is not job):
            return None
        del self._entries[task_id]
        del self._phases[entry.phase][task_id]
        entry.slot.cancel()
        return entry

    def move(self, entry: Entry, phase: Phase) -> None:
        del self._phases[entry.phase][entry.task.id]
        entry.phase = phase
        self._phases[phase][entry.task.id] = entry
        if phase is Phase.CALLING:
            entry.slot.set_result(None)

    def count(self, phase: Phase) -> int:
        return len(self._phases[phase])

    def in_phase(self, phase: Phase) -> list[Entry]:
        """The entries in `phase`, in the order they entered it."""
        return list(self._phases[phase].values())

    def calls_to(self, provider: str) -> int:
        calling = self._phases[Phase.CALLING].values()
        return sum(1 for entry in calling if entry.task.provider == provider)

    def renewed(self, task_ids: Iterable[int], until: datetime) -> None:
        for task_id in task_ids:
            entry = self._entries.get(task_id)
            if entry is not None:
                entry.lease_until = until

    def expired(self, now: datetime) -> list[Entry]:
        """Entries whose lease may have run out: another worker may have taken them over."""
        return [entry for entry in self._entries.values() if entry.lease_until <= now]
