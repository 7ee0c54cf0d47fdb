"""GET /api/batches/{id}/events: live progress as Server-Sent Events.

Events: `batch` (the batch's counts and status: on connect, then at most every 0.25 s while
anything changes) and `task` (a task changed state: task_id, status, output_image_id when it
succeeded, error when it failed, `at` its server time). Clients that cannot use SSE poll
GET /api/batches/{id} and /tasks instead: the same information.

A user holds at most max_event_streams_per_user streams (an admin setting) in each server
process: opening one more ends their oldest with a `closed` event (reason, message, hint).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse
from starlette.types import Send

from imagebatch.api.deps import AppDep, CurrentUser, OwnedBatch
from imagebatch.api.errors import responses
from imagebatch.api.feeds import END, Feeds, next_chunk

router = APIRouter(tags=["batches"])

PING_SECONDS = 15


@router.get(
    "/api/batches/{batch_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **responses(401, 404)},
)
async def batch_events(
    batch: OwnedBatch, request: Request, user: CurrentUser, app: AppDep
) -> EventSourceResponse:
    feeds: Feeds = request.app.state.feeds
    limit = (await app.runtime_settings.current()).max_event_streams_per_user
    return FeedResponse(_stream(feeds, batch.id, user.id, limit), ping=PING_SECONDS)


async def _stream(
    feeds: Feeds, batch_id: int, user_id: int, limit: int
) -> AsyncGenerator[bytes, None]:
    async with feeds.watch(batch_id) as queue:
        with feeds.slots.hold(user_id, queue, limit):
            while (chunk := await next_chunk(queue)) != END:
                yield chunk


class FeedResponse(EventSourceResponse):
    """sse_starlette's stream (pings, client disconnects, server shutdown, HEAD) with a lean
    path for the messages themselves: they come encoded (api.feeds), so each is one ASGI send.

    With hundreds of clients on a batch, every event is sent once per client: the library's
    own path (a cancel scope and a log call per message) cost 15-17 µs per send against 4 µs
    here (bench/RESULTS.md). A send that fails closes the body iterator at once, so the
    stream's slot and feed are released then, not when the generator is collected."""

    def __init__(self, chunks: AsyncGenerator[bytes, None], ping: float) -> None:
        super().__init__(chunks, ping=ping)
        self.chunks = chunks

    async def _stream_response(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        self._response_started = True
        try:
            async for chunk in self.chunks:
                try:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except BaseException:
                    self._send_interrupted = True  # the library then tries no closing send
                    raise
        finally:
            await self.chunks.aclose()
        async with self._send_lock:  # not while a ping is being written
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self._response_complete = True
            self.active = False
