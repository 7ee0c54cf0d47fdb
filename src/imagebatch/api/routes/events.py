"""GET /api/batches/{id}/events: live progress as Server-Sent Events.

Events: `batch` (the batch's counts and status: on connect, then at most every
SNAPSHOT_SECONDS while anything changes) and `task` (a task changed state: task_id, status,
output_image_id when it succeeded, error when it failed). Clients that cannot use SSE poll
GET /api/batches/{id} and /tasks instead: the same information.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from imagebatch.api.deps import AppDep, CurrentUser, ObjectId
from imagebatch.api.errors import responses
from imagebatch.api.routes.batches import owned_batch
from imagebatch.api.views import BatchOut
from imagebatch.app import App
from imagebatch.engine.events import Event

router = APIRouter(tags=["batches"])

SNAPSHOT_SECONDS = 0.25
PING_SECONDS = 15


class Snapshots:
    """A batch's latest state, read once per change however many clients watch it: a
    snapshot serves until an event says the batch changed (or it is a second old)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._cache: dict[int, tuple[float, str]] = {}
        self._changed: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def touch(self, batch_id: ObjectId) -> None:
        self._changed[batch_id] = time.monotonic()

    async def get(self, batch_id: ObjectId) -> str:
        lock = self._locks.setdefault(batch_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(batch_id)
            if cached and self._fresh(batch_id, cached[0]):
                return cached[1]
            read_at = time.monotonic()
            data = BatchOut.of(await self.app.batches.get(batch_id)).model_dump_json()
            self._cache[batch_id] = (read_at, data)
            if len(self._cache) > 10_000:  # forget the batch asked about longest ago
                forgotten = next(iter(self._cache))
                for table in (self._cache, self._changed, self._locks):
                    table.pop(forgotten, None)
            return data

    def _fresh(self, batch_id: ObjectId, read_at: float) -> bool:
        return read_at > self._changed.get(batch_id, 0.0) and time.monotonic() - read_at < 1.0


@router.get(
    "/api/batches/{batch_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **responses(401, 404)},
)
async def batch_events(
    batch_id: ObjectId, request: Request, user: CurrentUser, app: AppDep
) -> EventSourceResponse:
    await owned_batch(app, user, batch_id)
    snapshots: Snapshots = request.app.state.snapshots
    return EventSourceResponse(_stream(app, snapshots, batch_id), ping=PING_SECONDS)


async def _stream(
    app: App, snapshots: Snapshots, batch_id: ObjectId
) -> AsyncIterator[ServerSentEvent]:
    async with app.events.subscribe() as queue:
        yield ServerSentEvent(await snapshots.get(batch_id), event="batch")
        changed_at: float | None = None
        while True:
            wait = (
                None
                if changed_at is None
                else max(0.0, changed_at + SNAPSHOT_SECONDS - time.monotonic())
            )
            event = await _next(queue, wait)
            if event is not None and event.batch_id == batch_id:
                snapshots.touch(batch_id)
                if event.kind == "task":
                    yield ServerSentEvent(json.dumps(_task_data(event)), event="task")
                changed_at = changed_at or time.monotonic()
            if changed_at is not None and time.monotonic() - changed_at >= SNAPSHOT_SECONDS:
                yield ServerSentEvent(await snapshots.get(batch_id), event="batch")
                changed_at = None


async def _next(queue: asyncio.Queue[Event], timeout: float | None) -> Event | None:
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except TimeoutError:
        return None


def _task_data(event: Event) -> dict[str, Any]:
    return {"task_id": event.task_id, "status": event.status, **event.data}
