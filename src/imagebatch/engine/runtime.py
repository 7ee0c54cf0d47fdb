"""Settings an admin changes while the server runs, stored in the database so every server
and worker sees them. Defaults come from the configuration (environment, TOML)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field

from imagebatch.config import Settings
from imagebatch.domain.credits import RefundPolicy
from imagebatch.store.ledger import REFUND_POLICY
from imagebatch.store.settings import GLOBAL_CONCURRENCY, SettingsRepo

CACHE_SECONDS = 1.0


class RuntimeSettings(BaseModel):
    #: tasks running at once across all workers
    global_concurrency: int = Field(ge=1, le=100)
    #: attempts per task, the first included (new batches)
    max_attempts: int = Field(ge=1, le=20)
    #: files one upload may carry
    max_upload_files: int = Field(ge=1, le=1000)
    #: bytes per uploaded or referenced image
    max_image_bytes: int = Field(ge=1024, le=200 * 1024 * 1024)
    #: tasks one batch may expand to
    max_tasks_per_batch: int = Field(ge=1, le=100_000)
    #: days finished records are kept; 0 keeps them forever
    retention_days: int = Field(ge=0, le=36_500)
    #: what a failed or cancelled task costs
    refund_policy: RefundPolicy
    #: pending + running tasks one user may have across their batches
    max_active_tasks_per_user: int = Field(ge=1, le=10_000_000)
    #: live-progress (SSE) streams one user may hold open at once
    max_event_streams_per_user: int = Field(ge=1, le=1000)


class RuntimeSettingsUpdate(BaseModel):
    """A partial change: fields left out keep their value."""

    global_concurrency: int | None = Field(default=None, ge=1, le=100)
    max_attempts: int | None = Field(default=None, ge=1, le=20)
    max_upload_files: int | None = Field(default=None, ge=1, le=1000)
    max_image_bytes: int | None = Field(default=None, ge=1024, le=200 * 1024 * 1024)
    max_tasks_per_batch: int | None = Field(default=None, ge=1, le=100_000)
    retention_days: int | None = Field(default=None, ge=0, le=36_500)
    refund_policy: RefundPolicy | None = None
    max_active_tasks_per_user: int | None = Field(default=None, ge=1, le=10_000_000)
    max_event_streams_per_user: int | None = Field(default=None, ge=1, le=1000)


#: setting name -> key in the settings table (two predate this module)
_KEYS = {
    "global_concurrency": GLOBAL_CONCURRENCY,
    "refund_policy": REFUND_POLICY,
}


def _key(name: str) -> str:
    return _KEYS.get(name, name)


class RuntimeSettingsService:
    def __init__(self, repo: SettingsRepo, config: Settings) -> None:
        self.repo = repo
        self.defaults = RuntimeSettings(
            global_concurrency=config.concurrency,
            max_attempts=config.max_attempts,
            max_upload_files=config.max_upload_files,
            max_image_bytes=config.max_image_bytes,
            max_tasks_per_batch=config.max_tasks_per_batch,
            retention_days=config.retention_days,
            refund_policy=RefundPolicy.REFUND,
            max_active_tasks_per_user=config.max_active_tasks_per_user,
            max_event_streams_per_user=config.max_event_streams_per_user,
        )
        self._cached: tuple[float, RuntimeSettings] | None = None

    async def current(self) -> RuntimeSettings:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > CACHE_SECONDS:
            stored = await self.repo.get_many([_key(n) for n in RuntimeSettings.model_fields])
            values: dict[str, Any] = self.defaults.model_dump()
            for name in RuntimeSettings.model_fields:
                if stored.get(_key(name)) is not None:
                    values[name] = stored[_key(name)]
            self._cached = (now, RuntimeSettings.model_validate(values))
        return self._cached[1]

    async def update(self, change: RuntimeSettingsUpdate) -> RuntimeSettings:
        values = change.model_dump(exclude_none=True, mode="json")
        await self.repo.put_many({_key(name): value for name, value in values.items()})
        self._cached = None
        return await self.current()
