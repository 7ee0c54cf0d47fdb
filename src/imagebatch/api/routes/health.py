"""GET /api/health (for load balancers and people) and GET /metrics (for Prometheus).

Both read the database, not this process's memory, so they count every worker's work. Anyone
learns whether the service is up; only an admin learns more (checks, workers, queue), and only
an admin or a scraper holding IMAGEBATCH_METRICS_TOKEN reads the metrics.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Iterable
from dataclasses import asdict

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security.utils import get_authorization_scheme_param
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from pydantic import BaseModel
from sqlalchemy import text

from imagebatch import __version__
from imagebatch.api.deps import AppDep, OptionalUser
from imagebatch.api.errors import responses
from imagebatch.app import App
from imagebatch.domain.credits import from_micros
from imagebatch.engine.worker.limits import WORKER_SILENCE
from imagebatch.errors import Forbidden, NotAuthenticated
from imagebatch.providers.base import BackendStatuses
from imagebatch.store.stats import LATENCY_BUCKETS

router = APIRouter(tags=["health"])

METRICS_CACHE_SECONDS = 5.0
_PROBE_KEY = "00/00/" + "0" * 64 + ".png"


class QueueOut(BaseModel):
    pending: int
    running: int


class WorkersOut(BaseModel):
    #: workers running inside this server process
    in_process: int
    #: workers of any process that reported in the last 30 s
    live: int


class StatusOut(BaseModel):
    #: "ok", or "degraded" (answered 503) when the database or the storage fails
    status: str


class BackendOut(BaseModel):
    """One server of a provider's pool (ComfyUI GPUs)."""

    url: str
    #: False while benched (it refused connections and answers no probe yet)
    up: bool
    #: this process's prompts on it now
    running: int
    #: its own queue, every client's prompts; null when it cannot be read
    queue_length: int | None
    last_error: str


class HealthOut(StatusOut):
    """What an admin sees."""

    #: the imagebatch release this server runs
    version: str
    database: str
    storage: str
    workers: WorkersOut
    queue: QueueOut
    #: per pooled provider (comfyui), each backend server
    backends: dict[str, list[BackendOut]] = {}


async def _check(probe: Awaitable[object]) -> str:
    try:
        await probe
    except Exception as error:
        return f"error: {type(error).__name__}: {error}"[:200]
    return "ok"


@router.get(
    "/api/health",
    response_model=HealthOut | StatusOut,
    responses={503: {"model": HealthOut | StatusOut}},
)
async def health(request: Request, app: AppDep, viewer: OptionalUser) -> JSONResponse:
    """Anyone: whether the service is up. Admins: the checks, workers and queue too."""
    database = await _check(app.db.read(lambda conn: conn.execute(text("SELECT 1")).all()))
    storage = await _check(app.blobs.exists(_PROBE_KEY))
    shown = StatusOut(status="ok" if database == storage == "ok" else "degraded")
    if viewer is not None and viewer.is_admin:  # only they pay for the counting queries
        shown = await _details(request, app, shown.status, database, storage)
    return JSONResponse(shown.model_dump(), status_code=200 if shown.status == "ok" else 503)


async def _details(
    request: Request, app: App, status: str, database: str, storage: str
) -> HealthOut:
    tasks = await app.stats.tasks_by_status() if database == "ok" else {}
    since = app.clock() - WORKER_SILENCE
    seen = await app.workers.seen_since(since) if database == "ok" else []
    live = [w for w in seen if w.stopped_at is None]
    return HealthOut(
        status=status,
        version=__version__,
        database=database,
        storage=storage,
        workers=WorkersOut(in_process=len(request.app.state.workers), live=len(live)),
        queue=QueueOut(pending=tasks.get("pending", 0), running=tasks.get("running", 0)),
        backends=await _backends(app),
    )


async def _backends(app: App) -> dict[str, list[BackendOut]]:
    """The backends of every pooled provider configured here. Only ComfyUI pools today:
    looking at the others would build (and import the SDK of) every provider."""
    found: dict[str, list[BackendOut]] = {}
    names = ["comfyui"] if app.settings.comfyui_base_url.strip(" ,") else []
    for name in names:
        provider = app.providers.get(name)
        if isinstance(provider, BackendStatuses):
            statuses = await provider.backend_statuses()
            found[name] = [BackendOut(**asdict(status)) for status in statuses]
    return found


class _Families:
    """A collector that hands prometheus_client families computed beforehand."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def _families(app: App) -> list[Metric]:
    tasks = GaugeMetricFamily("imagebatch_tasks", "Tasks by status", labels=["status"])
    by_status = await app.stats.tasks_by_status()
    for status, n in by_status.items():
        tasks.add_metric([status], n)
    depth = GaugeMetricFamily("imagebatch_queue_depth", "Pending tasks")
    depth.add_metric([], by_status.get("pending", 0))
    attempts = CounterMetricFamily(
        "imagebatch_attempts", "Provider calls by outcome", labels=["provider", "outcome"]
    )
    for provider, outcome, n in await app.stats.attempts_by_outcome():
        attempts.add_metric([provider, outcome], n)
    limited = CounterMetricFamily(
        "imagebatch_rate_limited", "Provider calls answered 429", labels=["provider"]
    )
    latency = HistogramMetricFamily(
        "imagebatch_provider_latency_seconds", "Provider call latency", labels=["provider"]
    )
    for hist in await app.stats.latency_histograms():
        bounds = [str(b) for b in LATENCY_BUCKETS] + ["+Inf"]
        buckets = list(zip(bounds, [*hist.buckets, hist.count], strict=True))
        latency.add_metric([hist.provider], buckets, hist.total_seconds)
    for p in await app.stats.providers():
        limited.add_metric([p.provider], p.rate_limited)
    credits = CounterMetricFamily("imagebatch_credits_spent", "Credits charged")
    credits.add_metric([], from_micros(await app.stats.credits_charged()))
    return [tasks, depth, attempts, limited, latency, credits]


async def metrics_reader(request: Request, app: AppDep, viewer: OptionalUser) -> None:
    """An admin (session or API token), or a scraper sending the metrics token as bearer."""
    if _has_metrics_token(request, app):
        return
    if viewer is None:
        raise NotAuthenticated(
            "log in as an admin, or send IMAGEBATCH_METRICS_TOKEN as Authorization: Bearer …"
        )
    if not viewer.is_admin:
        raise Forbidden("metrics are for administrators and the IMAGEBATCH_METRICS_TOKEN holder")


def _has_metrics_token(request: Request, app: App) -> bool:
    expected = app.settings.metrics_token
    scheme, sent = get_authorization_scheme_param(request.headers.get("Authorization"))
    if expected is None or not expected.get_secret_value() or scheme.lower() != "bearer":
        return False
    # constant time: how long a wrong guess takes says nothing about how close it was
    return hmac.compare_digest(sent.encode(), expected.get_secret_value().encode())


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(metrics_reader)],
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
        **responses(401, 403),
    },
)
async def metrics(request: Request, app: AppDep) -> Response:
    """Prometheus metrics: tasks by status, attempts, latencies, 429s, credits spent."""
    cached = request.app.state.metrics_cache
    if cached is None or time.monotonic() - cached[0] > METRICS_CACHE_SECONDS:
        registry = CollectorRegistry()
        registry.register(_Families(await _families(app)))
        cached = (time.monotonic(), generate_latest(registry))
        request.app.state.metrics_cache = cached
    return Response(cached[1], media_type=CONTENT_TYPE_LATEST)
