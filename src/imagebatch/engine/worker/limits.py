"""Where the concurrency limits come from: settings changed at run time win over config."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta

from imagebatch.domain.claims import ClaimLimits
from imagebatch.engine.clock import utc_now
from imagebatch.store.settings import GLOBAL_CONCURRENCY, SettingsRepo
from imagebatch.store.workers import WorkerRepo

#: a worker not heard from for this long no longer counts as live
WORKER_SILENCE = timedelta(seconds=30)

#: how long a read of the run-time setting is trusted; a change takes effect within this
CACHE_SECONDS = 1.0


class LimitSource:
    def __init__(
        self,
        settings: SettingsRepo,
        default_global: int,
        per_provider: Mapping[str, int],
        *,
        override: int | None = None,
        batch_ids: Sequence[int] | None = None,
        workers: WorkerRepo | None = None,
        worker_id: str = "",
    ) -> None:
        self._worker_id = worker_id
        #: with the list of workers, this worker takes at most its fair share of the global limit
        self._workers = workers
        self._share: tuple[float, int] | None = None
        self._settings = settings
        self._default = default_global
        self._per_provider = dict(per_provider)
        self._override = override
        self._batch_ids = batch_ids
        self._cached: tuple[float, int] | None = None

    @property
    def batch_ids(self) -> Sequence[int] | None:
        return self._batch_ids

    async def current(self) -> ClaimLimits:
        return ClaimLimits(
            global_limit=await self.global_limit(),
            per_provider=self._per_provider,
            batch_ids=self._batch_ids,
        )

    async def global_limit(self) -> int:
        if self._override is not None:
            return self._override
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > CACHE_SECONDS:
            value = await self._settings.get(GLOBAL_CONCURRENCY, self._default)
            self._cached = (now, int(value))
        return self._cached[1]

    async def fair_share(self) -> int | None:
        """The global limit divided among the live registered workers (rounded up), or None
        without the list of workers. Otherwise one worker's group commit refills its own freed slots
        in the same transaction, and the others, however many, never get one."""
        if self._workers is None:
            return None
        now = time.monotonic()
        if self._share is None or now - self._share[0] > CACHE_SECONDS:
            # The others, plus this worker, whether or not it has registered yet.
            others = await self._workers.live_count(utc_now() - WORKER_SILENCE, self._worker_id)
            self._share = (now, max(1, math.ceil(await self.global_limit() / (others + 1))))
        return self._share[1]

    def forget(self) -> None:
        """Read the setting again on the next claim (it was just changed here)."""
        self._cached = None
        self._share = None
