"""Live batch feeds for SSE: one subscription to the event bus per watched batch, each change
encoded once and handed to every client watching that batch.

With hundreds of clients on one batch, per-client work is what limits: here a task event
costs one JSON encoding, and each burst of events (those that arrive together) a queue put
and a socket write per client. Batch snapshots (counts, status) go out at most every
SNAPSHOT_SECONDS while the batch changes.

Each user may hold a limited number of streams open (max_event_streams_per_user): one more
closes their oldest, which ends with a `closed` event (the page then polls instead), so the
newest tab always works. The count is per process: each API server keeps its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sse_starlette import ServerSentEvent

from imagebatch.api.snapshots import Snapshots
from imagebatch.domain.events import EventKind
from imagebatch.engine.events import Event, EventBus

SNAPSHOT_SECONDS = 0.25
#: a client this far behind loses its oldest events rather than slowing the others
CLIENT_BACKLOG = 1000
#: in a client's queue: its stream ends here (every real message is a non-empty event)
END = b""


def encode(data: str, event: str) -> bytes:
    return ServerSentEvent(data, event=event).encode()


#: the last event of every stream of a batch that was deleted
DELETED = encode(
    json.dumps(
        {
            "reason": "deleted",
            "message": "this batch was deleted",
            "hint": "open the batches list; its images are gone unless used elsewhere",
        }
    ),
    "closed",
)


#: the last event of a stream closed to make room for a newer one of the same user
SUPERSEDED = encode(
    json.dumps(
        {
            "reason": "too_many_streams",
            "message": "you opened more live streams than allowed; this oldest one was closed",
            "hint": "close other tabs, or poll GET /api/batches/{id} instead",
        }
    ),
    "closed",
)


def task_data(event: Event) -> dict[str, Any]:
    return {"task_id": event.task_id, "status": event.status, "at": event.at, **event.data}


def task_messages(events: list[Event]) -> bytes:
    return b"".join(
        encode(json.dumps(task_data(e)), "task") for e in events if e.kind == EventKind.TASK
    )


class _Feed:
    def __init__(self, batch_id: int, events: EventBus, snapshots: Snapshots) -> None:
        self.batch_id = batch_id
        self.events = events
        self.snapshots = snapshots
        self.clients: set[asyncio.Queue[bytes]] = set()
        self.task: asyncio.Task[None] | None = None

    def send(self, message: bytes) -> None:
        for queue in self.clients:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)

    async def run(self) -> None:
        async with self.events.subscribe() as bus:
            changed_at: float | None = None
            while True:
                wait = (
                    None if changed_at is None else changed_at + SNAPSHOT_SECONDS - time.monotonic()
                )
                ours = [e for e in await _burst(bus, wait) if e.batch_id == self.batch_id]
                if any(e.kind == EventKind.DELETED for e in ours):
                    self.send(DELETED)
                    self.send(END)
                    return
                if ours:
                    self.snapshots.touch(self.batch_id)
                    changed_at = changed_at or time.monotonic()
                # One message per burst: each client costs one wake-up and one write however
                # many tasks changed together (a group commit ends several), and a snapshot
                # due now rides along instead of costing every client a write of its own.
                message = task_messages(ours)
                if changed_at is not None and time.monotonic() - changed_at >= SNAPSHOT_SECONDS:
                    changed_at = None
                    message += encode(await self.snapshots.get(self.batch_id), "batch")
                if message:
                    self.send(message)


class Feeds:
    def __init__(self, events: EventBus, snapshots: Snapshots) -> None:
        self.events = events
        self.snapshots = snapshots
        self._feeds: dict[int, _Feed] = {}
        self.slots = StreamSlots()

    @contextlib.asynccontextmanager
    async def watch(self, batch_id: int) -> AsyncIterator[asyncio.Queue[bytes]]:
        """A queue of encoded SSE messages about the batch, starting with a snapshot."""
        feed = self._feeds.get(batch_id)
        if feed is None:
            feed = self._feeds[batch_id] = _Feed(batch_id, self.events, self.snapshots)
            feed.task = asyncio.create_task(feed.run())
        queue: asyncio.Queue[bytes] = asyncio.Queue(CLIENT_BACKLOG)
        feed.clients.add(queue)
        try:
            queue.put_nowait(encode(await self.snapshots.get(batch_id), "batch"))
            yield queue
        finally:
            feed.clients.discard(queue)
            if not feed.clients and self._feeds.get(batch_id) is feed:
                del self._feeds[batch_id]
                if feed.task:
                    feed.task.cancel()


class StreamSlots:
    """The live streams each user holds open in this process, oldest first."""

    def __init__(self) -> None:
        self._open: dict[int, list[asyncio.Queue[bytes]]] = {}

    @contextlib.contextmanager
    def hold(self, user_id: int, queue: asyncio.Queue[bytes], limit: int) -> Iterator[None]:
        """Count `queue` as one of the user's streams; close their oldest beyond `limit`."""
        mine = self._open.setdefault(user_id, [])
        while len(mine) >= limit:
            _supersede(mine.pop(0))
        mine.append(queue)
        try:
            yield
        finally:
            if queue in mine:
                mine.remove(queue)
            if not mine and self._open.get(user_id) is mine:
                del self._open[user_id]


def _supersede(queue: asyncio.Queue[bytes]) -> None:
    """Tell the stream behind `queue` to say why and end (what it had not sent is moot)."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(SUPERSEDED)
    queue.put_nowait(END)


async def next_chunk(queue: asyncio.Queue[bytes]) -> bytes:
    """A client's next message, with those already waiting behind it (END once the stream is
    over): a client that fell behind catches up in one write instead of one per message."""
    ready = [await queue.get()]
    while ready[-1] != END and not queue.empty():
        ready.append(queue.get_nowait())
    if len(ready) > 1 and ready[-1] == END:
        queue.put_nowait(ready.pop())  # for the next call: these messages go out first
    return b"".join(ready)


async def _burst(queue: asyncio.Queue[Event], timeout: float | None) -> list[Event]:
    """The next event and all others already waiting behind it; none after `timeout`."""
    if timeout is not None and timeout <= 0:
        return []
    try:
        async with asyncio.timeout(timeout):
            burst = [await queue.get()]
    except TimeoutError:
        return []
    while not queue.empty():
        burst.append(queue.get_nowait())
    return burst
