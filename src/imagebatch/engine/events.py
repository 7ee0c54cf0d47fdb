"""In-process progress events: the worker publishes, the CLI and (later) SSE subscribe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from imagebatch.domain.events import EventKind
from imagebatch.domain.records import Image, Task


@dataclass(frozen=True, slots=True)
class Output:
    """A task's output as the worker that made it recorded it: the task (output image id
    set) and its image row."""

    task: Task
    image: Image


@dataclass(frozen=True, slots=True)
class Event:
    #: what it is about (domain/events.py)
    kind: EventKind
    batch_id: int | None = None
    task_id: int | None = None
    status: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: when it happened (Unix time), so listeners can tell how late they hear of it
    at: float = field(default_factory=time.time)
    #: it happened in another process (relayed through the database)
    remote: bool = False
    #: a success's output, for listeners in this process only (never relayed nor sent): the
    #: CLI's output folder links it without reading the task and its image back (two
    #: database reads and thread hand-offs per image)
    output: Output | None = None


class EventBus:
    """Fan-out to subscribers; a slow subscriber loses old events rather than blocking workers."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._queue_size = queue_size

    def publish(self, event: Event) -> None:
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
