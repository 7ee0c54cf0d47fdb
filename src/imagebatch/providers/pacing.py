"""Requests-per-minute pacing: a token bucket whose rate adapts (AIMD).

The bucket refills at `rate` requests a minute and holds at most `burst` tokens, so calls are
spread evenly instead of arriving in bursts a provider's window would reject. On a 429 the rate
is cut (multiplicative decrease) and the bucket waits out the provider's Retry-After; each
success wins a little back (additive increase), up to the configured ceiling. Configured at the
provider's real limit, this runs just under it with next to no 429s; configured too high, it
settles near the real limit on its own.

One implementation for both users: the engine paces each provider with it, and the key pools
(providers/keys.py) pace each API key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

#: seconds on a monotonic clock (time.monotonic); a `Clock` (engine/clock.py) is a datetime
MonotonicClock = Callable[[], float]


@dataclass
class Aimd:
    #: rate is multiplied by this on a 429
    decrease: float = 0.7
    #: requests/minute won back per success
    increase: float = 0.5
    #: never below this share of the ceiling
    floor_share: float = 0.05


class TokenBucket:
    def __init__(
        self,
        per_minute: float,
        *,
        burst: float = 1.0,
        aimd: Aimd | None = None,
        clock: MonotonicClock = time.monotonic,
    ) -> None:
        self.ceiling = per_minute
        self.rate = per_minute
        self.burst = burst
        self.aimd = aimd or Aimd()
        self._clock = clock
        self._tokens = burst
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until a token is free (0: take one now)."""
        now = self._clock()
        self._refill(now)
        wait = max(0.0, self._paused_until - now)
        if self._tokens < 1:
            wait = max(wait, (1 - self._tokens) * 60 / self.rate)
        return wait

    def take(self) -> None:
        """Spend a token; call only when `delay()` is 0."""
        self._tokens -= 1

    async def acquire(self) -> None:
        async with self._lock:  # first come, first served
            while (wait := self.delay()) > 0:
                await asyncio.sleep(wait)
            self.take()

    def on_success(self) -> None:
        self.rate = min(self.ceiling, self.rate + self.aimd.increase)

    def on_rate_limited(self, retry_after: float | None) -> None:
        now = self._clock()
        self._refill(now)
        self.rate = max(self.ceiling * self.aimd.floor_share, self.rate * self.aimd.decrease)
        self._tokens = min(self._tokens, 0.0)
        if retry_after:
            self._paused_until = max(self._paused_until, now + retry_after)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate / 60)
        self._updated = now
