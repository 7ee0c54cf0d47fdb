"""A real HTTP server on 127.0.0.1 in a thread, for provider fakes.

Each fake subclasses FakeServer and implements `handle(request) -> Reply`. Faults queued with
`fail_next()` answer the next requests instead of the normal handler, so tests can walk a
client through any sequence of errors. Rate limits are enforced like a provider does, in
sliding windows: for the whole server (`limit_rate`) and per API key (`limit_key_rate`).
Requests that are not API calls (a fake CDN's downloads: `metered` is False) take no faults,
no latency and count against no limit.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import sys
import threading
import time
from collections import Counter, defaultdict, deque
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


class LoopbackServer(ThreadingHTTPServer):
    """A threading HTTP server for fakes: a deep listen backlog, quiet about gone clients."""

    # socketserver's default listen backlog is 5. A burst of new connections beyond it (16
    # calls starting together) overflows it, and the kernel drops the extra SYNs: those
    # clients retry after 1 s, which spreads a burst out as no real provider would.
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        # A client killed mid-request (the fault tests kill workers) is no error of ours.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: deque[Reply] = deque()
        #: rate limit enforced like a provider does: at most `limit` requests per `window` s
        self.limit: int | None = None
        self.window = 60.0
        self.admitted: deque[float] = deque()
        self.rejected = 0
        #: per-key limits as (limit, window); the None entry applies to every other key
        self.key_limits: dict[str | None, tuple[int, float]] = {}
        self.admitted_by_key: defaultdict[str, deque[float]] = defaultdict(deque)
        #: API requests per key that passed the rate limits, and those answered 429
        self.served_by_key: Counter[str] = Counter()
        self.refused_by_key: Counter[str] = Counter()
        #: (monotonic time, key, admitted) for every API request that took no queued fault
        self.history: list[tuple[float, str, bool]] = []
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

            def do_DELETE(self) -> None:
                fake._serve(self)

            def log_message(self, *args: object) -> None:
                return None

        self._httpd = LoopbackServer(("127.0.0.1", 0), Handler)
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

    def limit_key_rate(self, limit: int, window: float = 60.0, key: str | None = None) -> None:
        """At most `limit` requests per `window` s for `key` (None: for every key)."""
        self.key_limits[key] = (limit, window)

    def api_key_of(self, request: Request) -> str:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        return bearer or request.headers.get("x-goog-api-key", "")

    def metered(self, request: Request) -> bool:
        """Whether `request` is an API call (limits, faults and latency apply)."""
        return True

    def _over_limit(self, request: Request) -> Reply | None:
        key = self.api_key_of(request)
        windows = []
        if self.limit is not None:
            windows.append((self.admitted, self.limit, self.window))
        per_key = self.key_limits.get(key, self.key_limits.get(None))
        if per_key is not None:
            windows.append((self.admitted_by_key[key], *per_key))
        now = time.monotonic()
        for admitted, limit, window in windows:
            while admitted and admitted[0] <= now - window:
                admitted.popleft()
            if len(admitted) >= limit:
                self.rejected += 1
                self.refused_by_key[key] += 1
                self.history.append((now, key, False))
                return self.too_many(round(admitted[0] + window - now, 3))
        for admitted, _, _ in windows:
            admitted.append(now)
        self.served_by_key[key] += 1
        self.history.append((now, key, True))
        return None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        request = Request(
            handler.command,
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            handler.rfile.read(length),
        )
        metered = self.metered(request)
        fault = None
        with self._lock:
            self.requests.append(request)
            if metered:
                fault = (self.faults.popleft() if self.faults else None) or self._over_limit(
                    request
                )
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if fault is None and metered and self.latency:
                time.sleep(self.latency)
            reply = fault or self.handle(request)
            self._send(handler, reply)
        finally:
            if metered:
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
