"""CPU per client per event on the SSE send path: sse_starlette's own against ours.

N streams, each behind the response class under test, are fed the same pre-encoded message
B times (as api.feeds does: one queue put per client per burst); the ASGI `send` at the end
only counts, so what is measured is the path from a client's queue to the server's `send`
(queue wake-up, generator, response class, ASGI plumbing of the response), not the socket.
Usage: python bench/sse_send.py [--clients 500] [--bursts 200] [--rounds 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py is named like the standard library's `queue`: keep this folder off the path.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncGenerator

import uvloop
from sse_starlette import EventSourceResponse
from starlette.types import Message

from imagebatch.api.feeds import END, next_chunk
from imagebatch.api.routes.events import FeedResponse

MESSAGE = b'event: task\r\ndata: {"task_id": 1, "status": "running", "at": 0.0}\r\n\r\n'


async def chunks(queue: asyncio.Queue[bytes]) -> AsyncGenerator[bytes, None]:
    while (chunk := await next_chunk(queue)) != END:
        yield chunk


async def measure(response: type[EventSourceResponse], clients: int, bursts: int) -> float:
    """µs of CPU per client per burst."""
    queues: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in range(clients)]
    sent = 0
    never = asyncio.Event()

    async def send(_message: Message) -> None:
        nonlocal sent
        sent += 1

    async def receive() -> Message:
        await never.wait()
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "GET"}
    streams = [
        asyncio.create_task(response(chunks(q), ping=15)(scope, receive, send)) for q in queues
    ]
    while sent < clients:  # every stream has started
        await asyncio.sleep(0)
    started = time.process_time()
    for _ in range(bursts):
        for queue in queues:
            queue.put_nowait(MESSAGE)
        while any(not queue.empty() for queue in queues):
            await asyncio.sleep(0)
    spent = time.process_time() - started
    for queue in queues:
        queue.put_nowait(END)
    await asyncio.gather(*streams)
    return spent / bursts / clients * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--bursts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    figures: dict[str, list[float]] = {"sse_starlette": [], "FeedResponse": []}
    for _ in range(options.rounds):  # alternating, so both see the same machine
        for name, response in (
            ("sse_starlette", EventSourceResponse),
            ("FeedResponse", FeedResponse),
        ):
            figures[name].append(uvloop.run(measure(response, options.clients, options.bursts)))
    for name, values in figures.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name}: median {statistics.median(values):.1f} µs per client per burst ({shown})")


if __name__ == "__main__":
    main()
