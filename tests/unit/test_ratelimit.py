"""The adaptive token bucket (providers/pacing.py) and the engine's per-provider buckets."""

from __future__ import annotations

import pytest

from imagebatch.engine.worker.ratelimit import RateLimits
from imagebatch.providers.pacing import Aimd, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tokens_are_spread_evenly() -> None:
    clock = Clock()
    bucket = TokenBucket(120, clock=clock)  # one every 0.5 s
    assert bucket.delay() == 0
    bucket._tokens -= 1
    assert bucket.delay() == pytest.approx(0.5)
    clock.now += 0.25
    assert bucket.delay() == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.delay() == 0


def test_burst_is_bounded() -> None:
    clock = Clock()
    bucket = TokenBucket(60, burst=2, clock=clock)
    clock.now += 3600  # an idle hour does not bank an hour of requests
    bucket.delay()
    assert bucket._tokens == 2


def test_429_cuts_the_rate_and_pauses_for_retry_after() -> None:
    clock = Clock()
    bucket = TokenBucket(100, aimd=Aimd(decrease=0.5, increase=1), clock=clock)
    bucket.on_rate_limited(retry_after=7)
    assert bucket.rate == 50
    assert bucket.delay() == pytest.approx(7)
    clock.now += 7
    assert bucket.delay() == 0  # the pause spaced things out; then the slower rate applies
    bucket._tokens -= 1
    assert bucket.delay() == pytest.approx(60 / 50)


def test_successes_win_the_rate_back_up_to_the_ceiling() -> None:
    bucket = TokenBucket(10, aimd=Aimd(decrease=0.5, increase=1), clock=Clock())
    bucket.on_rate_limited(None)
    assert bucket.rate == 5
    for _ in range(20):
        bucket.on_success()
    assert bucket.rate == 10


def test_rate_never_falls_below_the_floor() -> None:
    bucket = TokenBucket(100, aimd=Aimd(decrease=0.1, floor_share=0.05), clock=Clock())
    for _ in range(10):
        bucket.on_rate_limited(None)
    assert bucket.rate == 5


def test_only_configured_providers_are_paced() -> None:
    limits = RateLimits({"openai": 5})
    assert limits.bucket("openai") is not None and limits.bucket("demo") is None
