"""Several ComfyUI servers (one per GPU, often) behind one provider.

Each backend runs at most `capacity` of our prompts at once (ComfyUI itself runs one at a
time); a call takes the least-busy backend that is up, and waits when all are full. A backend
that refuses connections is benched: no call goes to it until a probe (GET /system_stats,
at most every PROBE_SECONDS) is answered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from imagebatch.errors import ConnectionFailed, ProviderError
from imagebatch.providers.base import BackendStatus
from imagebatch.providers.comfyui_client import ComfyUIServer

PROBE_SECONDS = 3.0


@dataclass(eq=False)
class Backend:
    server: ComfyUIServer
    capacity: int
    busy: int = 0
    #: monotonic time it was benched (None: up), and when it was last probed
    benched_at: float | None = None
    probed_at: float = 0.0
    last_error: str = ""

    @property
    def up(self) -> bool:
        return self.benched_at is None

    @property
    def shown_url(self) -> str:
        """The URL without any user:password in it."""
        parts = urlsplit(self.server.url)
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit(parts._replace(netloc=host))


class BackendPool:
    def __init__(self, urls: Sequence[str], capacity: int, timeout: float) -> None:
        self.backends = [Backend(ComfyUIServer(url, timeout), capacity) for url in urls]
        self._changed = asyncio.Condition()

    @property
    def capacity(self) -> int:
        return sum(backend.capacity for backend in self.backends)

    async def acquire(self, tried: set[Backend] | None = None) -> Backend:
        """A slot on the least-busy backend that is up (and not in `tried`)."""
        tried = tried or set()
        async with self._changed:
            while True:
                await self._probe_benched()
                candidates = [b for b in self.backends if b.up and b not in tried]
                if not candidates:
                    raise ConnectionFailed(f"comfyui: no backend answers ({self.errors()})")
                free = [b for b in candidates if b.busy < b.capacity]
                if free:
                    chosen = min(free, key=lambda b: b.busy / b.capacity)
                    chosen.busy += 1
                    return chosen
                # Wake on a release, or in time to probe the benched again.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), PROBE_SECONDS)

    def hold(self, backend: Backend) -> None:
        """Count a call waiting on a prompt already queued on `backend`."""
        backend.busy += 1

    async def release(self, backend: Backend) -> None:
        backend.busy -= 1
        async with self._changed:
            self._changed.notify_all()

    def bench(self, backend: Backend, error: str) -> None:
        backend.last_error = error
        if backend.up:
            backend.benched_at = backend.probed_at = time.monotonic()

    def up(self) -> list[Backend]:
        return [b for b in self.backends if b.up]

    async def statuses(self) -> list[BackendStatus]:
        await self._probe_benched()
        return list(await asyncio.gather(*(self._status(b) for b in self.backends)))

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.server.aclose()

    async def _status(self, backend: Backend) -> BackendStatus:
        length = None
        if backend.up:
            try:
                length = await backend.server.queue_remaining()
            except (httpx.HTTPError, ProviderError) as error:
                backend.last_error = f"queue: {describe(error)}"
        return BackendStatus(
            backend.shown_url, backend.up, backend.busy, length, backend.last_error
        )

    async def _probe_benched(self) -> None:
        now = time.monotonic()
        due = [b for b in self.backends if not b.up and now - b.probed_at >= PROBE_SECONDS]
        await asyncio.gather(*(self._probe(b) for b in due))

    async def _probe(self, backend: Backend) -> None:
        backend.probed_at = time.monotonic()
        try:
            await backend.server.system_stats()
        except (httpx.HTTPError, ProviderError) as error:
            backend.last_error = f"probe: {describe(error)}"
            return
        backend.benched_at = None

    def errors(self) -> str:
        return "; ".join(f"{b.shown_url}: {b.last_error or 'busy'}" for b in self.backends)


def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".rstrip(": ")[:200]
