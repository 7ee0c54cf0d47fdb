"""Where the concurrency limits come from: settings changed at run time win over config."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from imagebatch.store.claim import ClaimLimits
from imagebatch.store.settings import GLOBAL_CONCURRENCY, SettingsRepo

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
    ) -> None:
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

    def forget(self) -> None:
        """Read the setting again on the next claim (it was just changed here)."""
        self._cached = None
