"""API key pools: several keys per provider, used in turn, each within its own limits.

`async with pool.lease() as key:` hands out a key only when it has a free concurrency slot
(IMAGEBATCH_KEY_CONCURRENCY) and a token of its requests-per-minute bucket
(IMAGEBATCH_KEY_RPM); otherwise the caller waits, first come first served, for the first key
that will have both (woken by a timer or by a call ending, never by polling). The lease also
learns from how the call ended:

- a 429 (RateLimited) backs that key off for the provider's Retry-After and cuts its rate
  (multiplicative decrease); successes win the rate back (additive increase); other keys
  carry on meanwhile;
- a rejected key (AuthFailed) is taken out of the pool;
- a key whose daily quota is spent rests until the quota resets (`rest`); when every key
  rests, RateLimited says how long until the first wakes.

These limits hold within one process. Log lines name only a key's last four characters.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from imagebatch.errors import AuthFailed, RateLimited
from imagebatch.providers.pacing import MonotonicClock, TokenBucket

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

#: A Retry-After longer than this sends the task back to the queue (RateLimited) instead of
#: holding a worker slot while it waits.
MAX_WAIT = 60.0


def mask(key: str) -> str:
    return f"…{key[-4:]}" if len(key) > 8 else "…"


def key_ref(key: str) -> str:
    """A name for a key that can be stored (a provider batch job belongs to one key)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class KeyLimits:
    #: requests a minute each key may start (None: not paced)
    rpm: float | None = None
    #: calls in flight per key (None: no limit)
    concurrency: int | None = None


@dataclass(slots=True)
class _Key:
    value: str
    bucket: TokenBucket | None
    in_flight: int = 0
    disabled: bool = False
    #: its daily quota is spent until then
    resting_until: float = 0.0
    #: the provider's Retry-After after a 429 runs until then
    backoff_until: float = 0.0

    def ready_in(self, now: float) -> float:
        """Seconds until this key may start a call, its concurrency aside."""
        held = max(self.resting_until, self.backoff_until) - now
        return max(0.0, held, self.bucket.delay() if self.bucket else 0.0)


class KeyPool:
    def __init__(
        self,
        provider: str,
        secret: SecretStr | None,
        clock: MonotonicClock = time.monotonic,
        *,
        limits: KeyLimits | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.limits = limits or KeyLimits()
        raw = secret.get_secret_value() if secret else ""
        values = dict.fromkeys(k.strip() for k in raw.split(",") if k.strip())
        rpm = self.limits.rpm
        self._keys = {
            value: _Key(value, TokenBucket(rpm, clock=clock) if rpm else None) for value in values
        }
        self._order = list(self._keys.values())
        self._turn = 0
        self._clock = clock
        self._sleep = sleep
        #: first come, first served: only the holder looks for a key
        self._queue = asyncio.Lock()
        #: set when a call ends or a key leaves the pool: a waiter looks again
        self._changed = asyncio.Event()
        #: users' own keys in use right now (count of calls), so errors never echo them
        self._own: dict[str, int] = {}

    @property
    def configured(self) -> bool:
        return bool(self._keys)

    def active(self) -> list[str]:
        return [k.value for k in self._order if not k.disabled]

    def all_keys(self) -> list[str]:
        """Every configured key, taken out of the pool or not (to look for batch jobs)."""
        return [k.value for k in self._order]

    def by_ref(self, ref: str) -> str:
        """The key `key_ref` named; AuthFailed when it is no longer configured."""
        for key in self._order:
            if key_ref(key.value) == ref:
                return key.value
        hint = f"IMAGEBATCH_{self.provider.upper().replace('-', '_')}_API_KEY"
        raise AuthFailed(
            f"{self.provider}: the API key that created this batch job is no longer in "
            f"{hint}; put it back to collect the job's results"
        )

    @asynccontextmanager
    async def lease(self, own: str | None = None) -> AsyncIterator[str]:
        """A key for one call, held until the block ends; waits for one to be free.

        `own`: the caller's own key (BYOK). It is used as it is, outside the pool: its
        limits and failures are its owner's business, not the pool's."""
        if own is not None:
            async with self._own_lease(own) as value:
                yield value
            return
        key = await self._acquire()
        try:
            yield key.value
        except RateLimited as error:
            self._rate_limited(key, error.retry_after)
            raise
        except AuthFailed as error:
            self.disable(key.value, error.message)
            raise
        else:
            if key.bucket:
                key.bucket.on_success()
        finally:
            key.in_flight -= 1
            self._changed.set()

    @asynccontextmanager
    async def _own_lease(self, own: str) -> AsyncIterator[str]:
        self._own[own] = self._own.get(own, 0) + 1  # scrubbed from messages meanwhile
        try:
            yield own
        except AuthFailed as error:
            raise AuthFailed(
                f"{self.provider}: your own API key {mask(own)} was rejected: {error.message}"
            ) from None
        finally:
            self._own[own] -= 1
            if not self._own[own]:
                del self._own[own]

    def rest(self, key: str, seconds: float, reason: str) -> None:
        """Leave this key alone for `seconds` (its daily quota is spent)."""
        if key not in self._keys:
            return  # a user's own key: the next call finds out for itself
        self._keys[key].resting_until = self._clock() + seconds
        log.warning(
            "%s: API key %s rests for %.0f s: %s", self.provider, mask(key), seconds, reason
        )

    def disable(self, key: str, reason: str) -> None:
        state = self._keys[key]
        if not state.disabled:
            state.disabled = True
            self._changed.set()
            log.warning(
                "%s: API key %s taken out of the pool: %s (%d left)",
                self.provider,
                mask(key),
                reason,
                len(self.active()),
            )

    def scrub(self, text: str) -> str:
        """The text with any of our keys masked: provider messages sometimes echo them."""
        for key in [*self._keys, *self._own]:
            text = text.replace(key, mask(key))
        return text

    async def _acquire(self) -> _Key:
        async with self._queue:
            while True:
                self._changed.clear()  # before looking: a call ending from now on re-sets it
                now = self._clock()
                key = self._pick(now)
                if key is not None:
                    key.in_flight += 1
                    if key.bucket:
                        key.bucket.take()
                    return key
                await self._pause(self._wait(now))

    def _pick(self, now: float) -> _Key | None:
        """The next key in turn that may start a call now."""
        count = len(self._order)
        for offset in range(count):
            index = (self._turn + offset) % count
            key = self._order[index]
            if not key.disabled and self._has_slot(key) and key.ready_in(now) == 0:
                self._turn = index + 1
                return key
        return None

    def _wait(self, now: float) -> float | None:
        """Seconds until a key may be free (None: only a call ending can free one)."""
        active = [k for k in self._order if not k.disabled]
        if not active:
            hint = f"set IMAGEBATCH_{self.provider.upper().replace('-', '_')}_API_KEY"
            raise AuthFailed(f"{self.provider}: no usable API key ({hint})")
        awake = [k for k in active if k.resting_until <= now]
        if not awake:
            wait = min(k.resting_until for k in active) - now
            raise RateLimited(f"{self.provider}: every key's quota is spent", retry_after=wait)
        open_keys = [k for k in awake if self._has_slot(k)]
        if not open_keys:
            return None
        if len(open_keys) == len(awake):
            backoff = min(k.backoff_until for k in open_keys) - now
            if backoff > MAX_WAIT:
                raise RateLimited(
                    f"{self.provider}: every key is rate limited for {backoff:.0f} s",
                    retry_after=backoff,
                )
        return min(k.ready_in(now) for k in open_keys)

    def _has_slot(self, key: _Key) -> bool:
        limit = self.limits.concurrency
        return limit is None or key.in_flight < limit

    async def _pause(self, seconds: float | None) -> None:
        """Until `seconds` pass or a call ends, whichever comes first."""
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._changed.wait())}
        if seconds is not None and math.isfinite(seconds):
            waiters.add(asyncio.ensure_future(self._sleep(seconds)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _rate_limited(self, key: _Key, retry_after: float | None) -> None:
        now = self._clock()
        if key.resting_until > now:
            return  # a spent daily quota: rest() already set this key aside
        if retry_after:
            key.backoff_until = max(key.backoff_until, now + retry_after)
        if key.bucket:
            key.bucket.on_rate_limited(None)
        log.info(
            "%s: API key %s rate limited; backs off %.1f s%s",
            self.provider,
            mask(key.value),
            retry_after or 0.0,
            f", now {key.bucket.rate:.1f}/min" if key.bucket else "",
        )
