"""Batches as clients watch them: one database read per change, however many clients ask.

Every page polling a batch and every SSE subscriber wants the same few fields many times a
second. A snapshot serves until an event says the batch changed (events from this process's
workers and commands), and never for longer than MAX_AGE (changes made by other processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from imagebatch.api.views import BatchOut
from imagebatch.app import App
from imagebatch.domain.records import Batch

MAX_AGE = 1.0
MAX_BATCHES = 10_000


class Snapshots:
    def __init__(self, app: App) -> None:
        self.app = app
        self._cache: dict[int, tuple[float, Batch, str]] = {}
        self._changed: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def touch(self, batch_id: int) -> None:
        self._changed[batch_id] = time.monotonic()

    async def follow(self, stop: asyncio.Event) -> None:
        """Mark batches changed as events about them arrive (a background job)."""
        async with self.app.events.subscribe() as queue:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    event = await asyncio.wait_for(queue.get(), 1.0)
                    if event.batch_id is not None:
                        self.touch(event.batch_id)

    async def batch(self, batch_id: int) -> tuple[Batch, str]:
        """The batch (its owner key decides who may see it) and its JSON as people read it
        (the owner's name); raises NotFound like the repository."""
        lock = self._locks.setdefault(batch_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(batch_id)
            if cached and self._fresh(batch_id, cached[0]):
                return cached[1], cached[2]
            read_at = time.monotonic()
            batch = await self.app.batches.get(batch_id)
            self._cache[batch_id] = (read_at, batch, BatchOut.of(batch).model_dump_json())
            if len(self._cache) > MAX_BATCHES:  # forget the batch asked about longest ago
                forgotten = next(iter(self._cache))
                for table in (self._cache, self._changed, self._locks):
                    table.pop(forgotten, None)
            return batch, self._cache[batch_id][2]

    async def get(self, batch_id: int) -> str:
        return (await self.batch(batch_id))[1]

    def _fresh(self, batch_id: int, read_at: float) -> bool:
        return read_at > self._changed.get(batch_id, 0.0) and time.monotonic() - read_at < MAX_AGE
