"""What a worker knows of its own leases: until when each running task is surely still its own.

A worker whose leases could not be renewed for a whole lease (the database unreachable, a
laptop asleep, a frozen VM) must give those calls up before it claims again: the tasks may
already run elsewhere, or be claimed by this very worker, whose id a late result would match
(the database could then not tell the old call's result from the new one's).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime


class LeaseBook:
    def __init__(self) -> None:
        self._until: dict[int, datetime] = {}

    def granted(self, task_ids: Iterable[int], until: datetime) -> None:
        """Leased (claimed or renewed) until `until`, or later: callers pass a time taken
        before the database set the lease, so the book never outlives the real lease."""
        for task_id in task_ids:
            self._until[task_id] = until

    def forget(self, task_id: int) -> None:
        self._until.pop(task_id, None)

    def expired(self, now: datetime) -> list[int]:
        """Tasks whose lease may have run out: another worker may have taken them over."""
        return [task_id for task_id, until in self._until.items() if until <= now]
