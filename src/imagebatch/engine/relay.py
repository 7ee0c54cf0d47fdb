"""Events between processes: what one process's workers and commands publish reaches every
other process sharing the PostgreSQL database, through LISTEN/NOTIFY.

So an idle worker anywhere wakes the moment a batch is submitted, resumed or retried (or a
slot frees elsewhere), a cancel stops calls on every worker at once, and every API server's
SSE clients see tasks run by workers on other machines. On SQLite (one machine) there is no
relay: processes fall back to polling, as the queue never depends on events for correctness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from imagebatch.domain.events import EventKind
from imagebatch.engine.events import Event, EventBus
from imagebatch.store.notify import MAX_PAYLOAD, PgChannel

log = logging.getLogger(__name__)

#: events published within this many seconds travel in one notification
GATHER_SECONDS = 0.02
RECONNECT_SECONDS = 1.0
_KINDS = frozenset(EventKind)


def encode(origin: str, events: list[Event]) -> list[str]:
    """Notification payloads (each within PostgreSQL's size limit) carrying `events`."""
    payloads: list[str] = []
    rows: list[list[Any]] = []
    size = 0
    for event in events:
        row = [event.kind, event.batch_id, event.task_id, event.status, event.data, event.at]
        length = len(json.dumps(row, ensure_ascii=False, default=str)) + 1
        if rows and size + length > MAX_PAYLOAD - 100:
            payloads.append(_payload(origin, rows))
            rows, size = [], 0
        if length <= MAX_PAYLOAD - 100:  # an event too large to travel is left local
            rows.append(row)
            size += length
    if rows:
        payloads.append(_payload(origin, rows))
    return payloads


def _payload(origin: str, rows: list[list[Any]]) -> str:
    return json.dumps({"o": origin, "e": rows}, ensure_ascii=False, default=str)


def decode(payload: str, own_origin: str) -> list[Event]:
    message = json.loads(payload)
    if message.get("o") == own_origin:
        return []  # our own, already published here
    return [
        Event(EventKind(kind), batch_id, task_id, status, dict(data or {}), at=at, remote=True)
        for kind, batch_id, task_id, status, data, at in message.get("e", [])
        if kind in _KINDS  # one a newer process knows and we do not: not for us
    ]


class EventRelay:
    def __init__(self, bus: EventBus, channel: PgChannel) -> None:
        self.bus = bus
        self.channel = channel
        self.origin = uuid.uuid4().hex
        #: set while the relay listens (and so hears other processes' events)
        self.listening = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        jobs = [asyncio.create_task(self._outgoing()), asyncio.create_task(self._incoming())]
        try:
            await stop.wait()
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            await self.channel.close()

    async def _outgoing(self) -> None:
        async with self.bus.subscribe() as queue:
            while True:
                events = [await queue.get()]
                await asyncio.sleep(GATHER_SECONDS)
                while not queue.empty():
                    events.append(queue.get_nowait())
                local = [e for e in events if not e.remote]
                if local:
                    await self._send(local)

    async def _send(self, events: list[Event]) -> None:
        try:
            await self.channel.send(encode(self.origin, events))
        except Exception as error:  # other processes fall back to polling meanwhile
            log.warning("could not relay %d event(s): %s", len(events), error)

    async def _incoming(self) -> None:
        while True:
            try:
                async for payload in self.channel.listen(self.listening):
                    with contextlib.suppress(ValueError, TypeError):
                        for event in decode(payload, self.origin):
                            self.bus.publish(event)
            except Exception as error:
                log.warning("event relay lost its connection (%s); reconnecting", error)
            self.listening.clear()
            await asyncio.sleep(RECONNECT_SECONDS)
