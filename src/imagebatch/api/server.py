"""The FastAPI application behind `imagebatch serve`: routes, errors, and the background
work that runs beside them (workers, webhook deliveries, retention sweeps)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from imagebatch import __version__
from imagebatch.api import errors
from imagebatch.api.bodies import BatchIn
from imagebatch.api.docs import install_docs
from imagebatch.api.feeds import Feeds
from imagebatch.api.headers import install_security_headers
from imagebatch.api.limits import BodyLimit, upload_paths
from imagebatch.api.routes import (
    admin,
    admin_users,
    assets,
    auth,
    batches,
    catalog,
    downloads,
    events,
    health,
    history,
    images,
    own_keys,
    tables,
)
from imagebatch.api.snapshots import Snapshots
from imagebatch.app import App

ROUTERS = (
    auth.router,
    own_keys.router,
    batches.router,
    downloads.router,
    events.router,
    images.router,
    history.router,
    assets.router,
    catalog.router,
    tables.router,
    admin.router,
    admin_users.router,
    health.router,
)


def create_server(
    app: App,
    *,
    workers: bool = True,
    background: bool = True,
    extra: Callable[[FastAPI], None] | None = None,
) -> FastAPI:
    """The ASGI app. `workers`: run queue workers in this process; `background`: deliver
    webhooks and sweep old records here too."""

    @contextlib.asynccontextmanager
    async def lifespan(server: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        jobs = [asyncio.create_task(job(stop)) for job in _jobs(server, app, workers, background)]
        try:
            yield
        finally:
            stop.set()  # workers hand their running tasks back to the queue as they stop
            await asyncio.gather(*jobs, return_exceptions=True)

    server = FastAPI(
        title="imagebatch",
        version=__version__,
        description="Batch AI image generation and editing with a durable queue.",
        lifespan=lifespan,
        docs_url=None,  # ours, offline and under a strict CSP: install_docs
        redoc_url=None,
    )
    server.state.app = app
    server.state.snapshots = Snapshots(app)
    server.state.feeds = Feeds(app.events, server.state.snapshots)
    server.state.workers = []
    server.state.metrics_cache = None
    errors.install(server)
    server.add_middleware(
        BodyLimit, limit=app.settings.max_json_bytes, uploads=upload_paths(ROUTERS)
    )
    install_security_headers(server)
    if app.settings.forwarded_allow_ips:
        # Whose X-Forwarded-For/-Proto to believe is ours to say, whatever ASGI server runs
        # us (`serve` turns uvicorn's own, which trusts loopback, off): the outermost layer.
        trusted = app.settings.forwarded_allow_ips
        server.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    for router in ROUTERS:
        server.include_router(router)
    install_docs(server)
    if extra is not None:
        extra(server)
    server.openapi = lambda: _openapi(server)  # type: ignore[method-assign]
    return server


def _jobs(
    server: FastAPI, app: App, workers: bool, background: bool
) -> list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]]:
    jobs: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = [
        server.state.snapshots.follow
    ]
    relay = app.relay()
    if relay is not None:  # other processes' events: workers elsewhere, other API servers
        jobs.append(relay.run)
    if workers:
        worker = app.worker(grace_seconds=app.settings.worker_grace_seconds, fair_share=True)
        server.state.workers.append(worker)
        jobs.append(lambda stop: app.run_worker(worker, stop))
        jobs.append(app.economy_runner().run)  # economy batches: provider batch jobs
    if background:
        jobs.append(app.webhook_dispatcher().run)
        jobs.append(app.library.run_sweeps)
    return jobs


def _openapi(server: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, plus the JSON body of POST /api/batches (read by hand there,
    because the same path also takes multipart uploads)."""
    if server.openapi_schema:
        return server.openapi_schema
    schema = get_openapi(
        title=server.title,
        version=server.version,
        description=server.description,
        routes=server.routes,
    )
    body = BatchIn.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(body.pop("$defs", {}))
    components["BatchIn"] = body
    server.openapi_schema = schema
    return schema
