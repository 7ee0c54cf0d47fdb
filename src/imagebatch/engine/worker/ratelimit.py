"""Requests-per-minute limits per provider: one adaptive token bucket (providers/pacing.py)
per provider that has a limit configured (IMAGEBATCH_PROVIDER_RPM). Per-key limits live in
the providers' key pools."""

from __future__ import annotations

import time
from collections.abc import Mapping

from imagebatch.providers.pacing import MonotonicClock, TokenBucket


class RateLimits:
    """One bucket per provider that has a requests-per-minute limit configured."""

    def __init__(
        self, per_minute: Mapping[str, float], clock: MonotonicClock = time.monotonic
    ) -> None:
        self._buckets = {name: TokenBucket(rpm, clock=clock) for name, rpm in per_minute.items()}

    def bucket(self, provider: str) -> TokenBucket | None:
        return self._buckets.get(provider)
