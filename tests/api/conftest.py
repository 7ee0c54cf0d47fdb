"""A real `imagebatch serve` app on a real socket (uvicorn on 127.0.0.1, random port), with
the demo provider priced at 0.5 credits an image so the ledger has something to count."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from PIL import Image

from imagebatch.api.server import create_server
from imagebatch.app import App, build_app
from imagebatch.config import Settings
from imagebatch.domain.accounts import Role, User
from imagebatch.domain.credits import to_micros
from imagebatch.providers.base import ImageProvider
from imagebatch.providers.demo import DemoProvider
from imagebatch.web import install_web
from tests.waiting import wait_until_async

PASSWORD = "correct horse"
TERMINAL = ("completed", "completed_with_failures", "cancelled")
DEMO_PRICE = 0.5


@dataclass
class Api:
    app: App
    url: str
    opened: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, **options: Any) -> httpx.AsyncClient:
        """A client closed at the end of the test."""
        client = httpx.AsyncClient(base_url=self.url, timeout=15, **options)
        self.opened.append(client)
        return client

    @asynccontextmanager
    async def session(
        self, name: str, password: str = PASSWORD
    ) -> AsyncIterator[httpx.AsyncClient]:
        yield await self.login(name, password)

    async def user(self, name: str, *, credits: float = 100.0, admin: bool = False) -> User:
        role = Role.ADMIN if admin else Role.USER
        return await self.app.accounts.create_user(name, PASSWORD, role, to_micros(credits))

    async def login(self, name: str, password: str = PASSWORD) -> httpx.AsyncClient:
        """A browser-like client: session cookie, and the CSRF header a page would send."""
        client = self.client()
        answer = await client.post("/api/auth/login", json={"name": name, "password": password})
        assert answer.status_code == 200, answer.text
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return client

    async def bearer(self, name: str) -> httpx.AsyncClient:
        """A script-like client: a personal API token, no cookies."""
        browser = await self.login(name)
        token = (await browser.post("/api/auth/tokens", json={"name": "t"})).json()["token"]
        return self.client(headers={"Authorization": f"Bearer {token}"})

    async def wait_batch(
        self, client: httpx.AsyncClient, batch_id: int, until: Iterable[str] = TERMINAL
    ) -> dict[str, Any]:
        """Poll the batch until its status is one of `until` (bounded: a bug cannot hang CI)."""
        wanted = set(until)

        async def look() -> dict[str, Any]:
            batch: dict[str, Any] = (await client.get(f"/api/batches/{batch_id}")).json()
            return batch

        return await wait_until_async(
            look,
            lambda batch: batch["status"] in wanted,
            awaiting=f"batch {batch_id} to be {' or '.join(sorted(wanted))}",
            timeout=15,
            every=0.02,
        )


async def start_server(app: App, **options: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    config = uvicorn.Config(
        create_server(app, **options),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        proxy_headers=False,  # as `imagebatch serve`: the app decides whose headers to believe
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_until_async(lambda: server.started or task.done(), awaiting="uvicorn to start")
    assert not task.done(), "uvicorn stopped while starting"
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"prices": {"demo/demo": DEMO_PRICE}, "allow_private_urls": True}
    )


@pytest.fixture
def providers(demo: DemoProvider) -> dict[str, ImageProvider]:
    """What the server runs; a test module may override it to add providers."""
    return {"demo": demo}


@asynccontextmanager
async def serve_harness(
    settings: Settings, providers: dict[str, ImageProvider], **server_options: Any
) -> AsyncIterator[Api]:
    """A new App on `settings`, served until the block ends (its clients closed first)."""
    app = await build_app(settings, providers=providers)
    # Real Argon2, cheap parameters: tests create and log in many users.
    app.accounts.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    server, task, url = await start_server(app, **server_options)
    harness = Api(app, url)
    try:
        yield harness
    finally:
        for client in harness.opened:
            await client.aclose()
        server.should_exit = True
        await task
        await app.close()


@pytest.fixture
async def api(api_settings: Settings, providers: dict[str, ImageProvider]) -> AsyncIterator[Api]:
    async with serve_harness(api_settings, providers) as harness:
        yield harness


@pytest.fixture
async def site(api: Api) -> AsyncIterator[Api]:
    """The harness's app served again, this time with the web UI installed (pages and
    static files answer too)."""
    server, task, url = await start_server(api.app, workers=False, extra=install_web)
    try:
        yield Api(api.app, url, api.opened)
    finally:
        server.should_exit = True
        await task


def png(width: int = 64, height: int = 48, color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()
