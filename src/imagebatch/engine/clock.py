"""Time as the engine sees it; tests pass their own clock to move leases forward."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: the time now, as an aware UTC datetime (a rate limiter's seconds are a MonotonicClock,
#: providers/pacing.py)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
