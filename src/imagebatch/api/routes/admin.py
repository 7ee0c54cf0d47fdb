"""/api/admin: settings, presets, every user's batches, statistics (admins only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from imagebatch.api.deps import AdminUser, AppDep, Cursor, ObjectId
from imagebatch.api.errors import responses
from imagebatch.api.views import BatchOut, Page, PresetOut
from imagebatch.domain.credits import from_micros
from imagebatch.domain.events import EventKind
from imagebatch.domain.states import BatchStatus
from imagebatch.engine.events import Event
from imagebatch.engine.runtime import RuntimeSettings, RuntimeSettingsUpdate
from imagebatch.engine.worker.limits import WORKER_SILENCE

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=responses(401, 403))


class PresetIn(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    content: str = Field(min_length=1, max_length=4000)
    category: str = Field(default="", max_length=50)
    sort_order: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    active: bool = True


class PresetUpdate(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=100)
    content: str | None = Field(default=None, min_length=1, max_length=4000)
    category: str | None = Field(default=None, max_length=50)
    sort_order: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    active: bool | None = None


class ProviderStatsOut(BaseModel):
    provider: str
    tasks: int
    succeeded: int
    failed: int
    success_rate: float | None
    mean_latency_ms: float | None
    cost: float
    rate_limited: int


class DayCount(BaseModel):
    day: str
    images: int


class StatsOut(BaseModel):
    totals: dict[str, int]
    tasks_by_status: dict[str, int]
    batches_by_status: dict[str, int]
    images_per_day: list[DayCount]
    success_rate: float | None
    providers: list[ProviderStatsOut]
    credits_charged: float


@router.get("/settings")
async def get_settings(_admin: AdminUser, app: AppDep) -> RuntimeSettings:
    return await app.runtime_settings.current()


@router.put("/settings", responses=responses(422))
async def put_settings(
    body: RuntimeSettingsUpdate, _admin: AdminUser, app: AppDep
) -> RuntimeSettings:
    """Change settings for every server and worker; fields left out keep their value."""
    changed = await app.runtime_settings.update(body)
    app.events.publish(Event(EventKind.SETTINGS))  # workers here re-read their limits at once
    return changed


@router.get("/presets")
async def list_presets(_admin: AdminUser, app: AppDep) -> list[PresetOut]:
    return [PresetOut.of(p) for p in await app.presets.ordered(active_only=False)]


@router.post("/presets", status_code=status.HTTP_201_CREATED, responses=responses(422))
async def create_preset(body: PresetIn, _admin: AdminUser, app: AppDep) -> PresetOut:
    return PresetOut.of(await app.presets.create(body.model_dump(), app.clock()))


@router.put("/presets/{preset_id}", responses=responses(404, 422))
async def update_preset(
    preset_id: ObjectId, body: PresetUpdate, _admin: AdminUser, app: AppDep
) -> PresetOut:
    values = body.model_dump(exclude_none=True)
    if not values:
        return PresetOut.of(await app.presets.get(preset_id))
    return PresetOut.of(await app.presets.update(preset_id, values, app.clock()))


@router.delete(
    "/presets/{preset_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404)
)
async def delete_preset(preset_id: ObjectId, _admin: AdminUser, app: AppDep) -> None:
    await app.presets.delete(preset_id)


@router.get("/batches")
async def all_batches(
    _admin: AdminUser,
    app: AppDep,
    status: BatchStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Page[BatchOut]:
    """Every user's batches, newest first."""
    found = await app.batches.page(None, status, cursor, limit)
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page(items=[BatchOut.of(b) for b in found], next_cursor=next_cursor)


class WorkerOut(BaseModel):
    id: str
    host: str
    pid: int
    #: most tasks it runs at once
    concurrency: int
    running: int
    version: str
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    #: reported within the last 30 s and not stopped
    live: bool


@router.get("/workers")
async def workers(_admin: AdminUser, app: AppDep) -> list[WorkerOut]:
    """Worker processes seen in the last hour, the live ones first."""
    now = app.clock()
    seen = await app.workers.seen_since(now - timedelta(hours=1))
    out = [
        WorkerOut(
            **{name: getattr(w, name) for name in w.__slots__},
            live=w.stopped_at is None and now - w.last_seen <= WORKER_SILENCE,
        )
        for w in seen
    ]
    return sorted(out, key=lambda w: not w.live)


@router.get("/stats")
async def stats(
    _admin: AdminUser, app: AppDep, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> StatsOut:
    tasks = await app.stats.tasks_by_status()
    ended = tasks["succeeded"] + tasks["failed"]
    per_day = await app.stats.images_per_day(app.clock() - timedelta(days=days))
    return StatsOut(
        totals=await app.stats.totals(),
        tasks_by_status=tasks,
        batches_by_status=await app.stats.batches_by_status(),
        images_per_day=[DayCount(day=day, images=n) for day, n in per_day],
        success_rate=tasks["succeeded"] / ended if ended else None,
        providers=[
            ProviderStatsOut(
                provider=p.provider,
                tasks=p.tasks,
                succeeded=p.succeeded,
                failed=p.failed,
                success_rate=p.succeeded / (p.succeeded + p.failed)
                if p.succeeded + p.failed
                else None,
                mean_latency_ms=p.mean_latency_ms,
                cost=from_micros(p.cost),
                rate_limited=p.rate_limited,
            )
            for p in await app.stats.providers()
        ],
        credits_charged=from_micros(await app.stats.credits_charged()),
    )
