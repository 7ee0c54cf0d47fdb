"""The group commit: tasks that end while a transaction runs wait for the next one, which
records them all, and claims the tasks to run next in the same transaction.

One transaction per end cost more than the ends themselves at 200 tasks a second: most of a
transaction's cost is our Python around it, the same for one end as for twenty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from imagebatch.store.completions import Completion

#: records the completions and claims what there is room for: each one's output image id,
#: or None if the task was no longer ours
Record = Callable[[list[Completion]], Awaitable[list[int | None]]]


class GroupCommit:
    def __init__(self, record: Record) -> None:
        self._record = record
        self._waiting: list[tuple[Completion, asyncio.Future[int | None]]] = []
        #: a transaction is due: one more runs after the one in flight
        self._due = False
        #: runs transactions while they are due, then ends (the next one due starts another)
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False

    def poke(self) -> None:
        """A transaction is worth running without a completion: a call ended, and its slot
        can be refilled while its output is still being stored."""
        self._due = True
        if self._flusher is None and not self._stopped:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_while_due())

    async def add(self, item: Completion) -> int | None:
        """Record a success in the next transaction: its output image id, or None if the
        task was no longer ours."""
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self.poke()
        return await future

    def stop(self) -> None:
        """Run no more transactions (the worker stops); the one in flight is abandoned."""
        self._stopped = True
        if self._flusher is not None:
            self._flusher.cancel()

    async def _flush_while_due(self) -> None:
        try:
            while self._due:
                self._due = False
                await self._flush()
        finally:
            self._flusher = None

    async def _flush(self) -> None:
        # A completion whose call was abandoned meanwhile (its waiter cancelled) is not ours.
        waiting = [(item, f) for item, f in self._waiting if not f.cancelled()]
        self._waiting = []
        try:
            results = await self._record([item for item, _ in waiting])
        except Exception as error:  # the waiters log it; their leases bring the tasks back
            for _, future in waiting:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), done in zip(waiting, results, strict=True):
            if not future.done():
                future.set_result(done)
