"""An OpenAI-compatible images server for benchmarks, run in a process of its own.

It answers every POST with one fixed, pre-encoded `b64_json` answer after L ms, so the
process under test spends its CPU on the engine and its HTTP client only, not on drawing
(as a real provider draws on its own machines). Bare asyncio (no framework): it should cost
as little as it can of the machine it shares. `GET /stats` answers the calls and connections
it counted, the most calls it saw in flight at once and its own CPU seconds. Usage (prints
its port on the first line):

    python bench/fake_images_server.py --latency-ms 50 [--port 0] [--image-size 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import sys
import threading
import time

from PIL import Image

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: req_bench\r\n"


def answer_body(image_size: int) -> tuple[bytes, int]:
    """The JSON answer, made once, and the size of the JPEG inside it: a gradient, so it
    compresses like a picture and not like a blank page."""
    gradient = Image.linear_gradient("L").resize((image_size, image_size)).convert("RGB")
    buffer = io.BytesIO()
    gradient.save(buffer, "JPEG", quality=85)
    jpeg = buffer.getvalue()
    body = {
        "created": 1,
        "output_format": "jpeg",
        "data": [{"b64_json": base64.b64encode(jpeg).decode()}],
    }
    return json.dumps(body).encode(), len(jpeg)


def reply(body: bytes, head: bytes = OK_HEAD) -> bytes:
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


class Counters:
    def __init__(self) -> None:
        self.calls = 0
        #: connections opened: a client whose pool keeps too few alive opens one per call
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def started(self) -> None:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def as_reply(self) -> bytes:
        stats = {
            "calls": self.calls,
            "connections": self.connections,
            "max_in_flight": self.max_in_flight,
            "cpu_s": round(time.process_time(), 3),
        }
        return reply(json.dumps(stats).encode())


class Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; a client sends its next request only after our answer."""

    def __init__(self, answer: bytes, latency: float, counters: Counters) -> None:
        self._answer = answer
        self._latency = latency
        self._counters = counters
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._counters.connections += 1

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._take_request():
            pass

    def _take_request(self) -> bool:
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        head = self._buffer[:head_end].decode("latin-1")
        length = _content_length(head)
        if len(self._buffer) < head_end + 4 + length:
            return False
        self._buffer = self._buffer[head_end + 4 + length :]
        self._answer_to(head.split(" ", 2))
        return True

    def _answer_to(self, request_line: list[str]) -> None:
        if request_line[0] == "GET" and request_line[1] == "/stats":
            self._write(self._counters.as_reply())
            return
        self._counters.started()
        asyncio.get_running_loop().call_later(self._latency, self._finish)

    def _finish(self) -> None:
        self._counters.in_flight -= 1
        self._write(self._answer)

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


def _content_length(head: str) -> int:
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value)
    return 0


async def serve(latency_ms: int, port: int, image_size: int) -> None:
    body, jpeg_bytes = answer_body(image_size)
    answer = reply(body)
    counters = Counters()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(answer, latency_ms / 1000, counters), "127.0.0.1", port, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": bound, "jpeg_bytes": jpeg_bytes}), flush=True)
    async with server:
        await server.serve_forever()


def exit_with_parent() -> None:
    """Started with its standard input a pipe from the benchmark: end when that closes, so a
    benchmark that dies leaves no server behind."""

    def watch() -> None:
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=1024, help="JPEG width and height")
    parser.add_argument("--exit-with-parent", action="store_true", help="end at stdin's EOF")
    args = parser.parse_args()
    if args.exit_with_parent:
        exit_with_parent()
    try:
        asyncio.run(serve(args.latency_ms, args.port, args.image_size))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
