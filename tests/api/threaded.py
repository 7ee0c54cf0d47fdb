"""A live server on its own thread and event loop, for tests whose own code is synchronous
(Playwright, schemathesis). Subclasses build the App in `prepare`; the rest is shared."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Self, TypeVar

from imagebatch.app import App
from tests.api.conftest import start_server

T = TypeVar("T")


class ThreadedServer(threading.Thread):
    """`serve()` starts it, yields it once it answers, and stops it; `call` runs a coroutine
    on its loop from the test's thread."""

    def __init__(self, data_dir: Path, **server_options: Any) -> None:
        super().__init__(daemon=True, name=type(self).__name__)
        self.data_dir = data_dir
        self.ready = threading.Event()
        self.url = ""
        self.app: App | None = None
        self.error: BaseException | None = None
        self._options = server_options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    async def prepare(self) -> App:
        raise NotImplementedError

    async def main(self) -> None:
        """What the thread runs; a subclass may wrap it (e.g. in a fake provider's lifetime)."""
        await self._serve()

    def run(self) -> None:
        try:
            asyncio.run(self.main())
        except BaseException as error:
            self.error = error
            self.ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = await self.prepare()
        self.app = app
        server, task, self.url = await start_server(app, **self._options)
        self.ready.set()
        await self._stopping.wait()
        server.should_exit = True
        await task
        await app.close()

    def call(self, work: Callable[[App], Awaitable[T]]) -> T:
        assert self._loop is not None and self.app is not None
        app = self.app

        async def run() -> T:
            return await work(app)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=15)

    def serve(self) -> Iterator[Self]:
        self.start()
        assert self.ready.wait(30), "the server did not start"
        if self.error:
            raise self.error
        try:
            yield self
        finally:
            if self._loop and self._stopping:
                self._loop.call_soon_threadsafe(self._stopping.set)
            self.join(timeout=30)
