"""A real HTTP server on 127.0.0.1 in a thread, for provider fakes.

Each fake subclasses FakeServer and implements `handle(request) -> Reply`. Faults queued with
`fail_next()` answer the next requests instead of the normal handler, so tests can walk a
client through any sequence of errors.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> list[tuple[str, str | None, bytes]]:
        """multipart/form-data parts as (field name, file name, content)."""
        head = f"Content-Type: {self.headers.get('content-type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self.body)
        parts = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            parts.append((str(name), part.get_filename(), part.get_payload(decode=True) or b""))
        return parts


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: seconds to wait before answering (latency, or a timeout when longer than the client's)
    delay: float = 0.0


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: deque[Reply] = deque()
        #: rate limit enforced like a provider does: at most `limit` requests per `window` s
        self.limit: int | None = None
        self.window = 60.0
        self.admitted: deque[float] = deque()
        self.rejected = 0
        self.in_flight = 0
        self.max_in_flight = 0
        #: seconds every normal answer takes (faults answer at once unless they say otherwise)
        self.latency = 0.0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._serve(self)

            def do_POST(self) -> None:
                fake._serve(self)

            def log_message(self, *args: object) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail_next(self, *replies: Reply) -> None:
        self.faults.extend(replies)

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def too_many(self, retry_after: float) -> Reply:
        """This provider's answer to a request over its rate limit."""
        raise NotImplementedError

    def limit_rate(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window

    def _over_limit(self) -> Reply | None:
        if self.limit is None:
            return None
        now = time.monotonic()
        while self.admitted and self.admitted[0] <= now - self.window:
            self.admitted.popleft()
        if len(self.admitted) < self.limit:
            self.admitted.append(now)
            return None
        self.rejected += 1
        return self.too_many(round(self.admitted[0] + self.window - now, 3))

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        request = Request(
            handler.command,
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            handler.rfile.read(length),
        )
        with self._lock:
            self.requests.append(request)
            fault = (self.faults.popleft() if self.faults else None) or self._over_limit()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if fault is None and self.latency:
                time.sleep(self.latency)
            reply = fault or self.handle(request)
            self._send(handler, reply)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            handler.send_response(reply.status)
            content_type = "application/json" if not isinstance(reply.body, bytes) else "text/plain"
            handler.send_header("Content-Type", reply.headers.pop("Content-Type", content_type))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)
