"""GET /api/batches/{id}/events: live progress as Server-Sent Events.

Events: `batch` (the batch's counts and status: on connect, then at most every 0.25 s while
anything changes) and `task` (a task changed state: task_id, status, output_image_id when it
succeeded, error when it failed, `at` its server time). Clients that cannot use SSE poll
GET /api/batches/{id} and /tasks instead: the same information.

A user holds at most max_event_streams_per_user streams (an admin setting) in each server
process: opening one more ends their oldest with a `closed` event (reason, message, hint).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from imagebatch.api.deps import AppDep, CurrentUser, ObjectId
from imagebatch.api.errors import responses
from imagebatch.api.feeds import END, Feeds
from imagebatch.api.routes.batches import owned_batch

router = APIRouter(tags=["batches"])

PING_SECONDS = 15


@router.get(
    "/api/batches/{batch_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **responses(401, 404)},
)
async def batch_events(
    batch_id: ObjectId, request: Request, user: CurrentUser, app: AppDep
) -> EventSourceResponse:
    await owned_batch(app, user, batch_id)
    feeds: Feeds = request.app.state.feeds
    limit = (await app.runtime.current()).max_event_streams_per_user
    return EventSourceResponse(_stream(feeds, batch_id, user.id, limit), ping=PING_SECONDS)


async def _stream(feeds: Feeds, batch_id: int, user_id: int, limit: int) -> AsyncIterator[bytes]:
    async with feeds.watch(batch_id) as queue:
        with feeds.slots.hold(user_id, queue, limit):
            while (message := await queue.get()) != END:
                yield message
