from __future__ import annotations

import random

import pytest

from imagebatch.domain.retry import RetryPolicy
from imagebatch.errors import (
    AuthFailed,
    ConnectionFailed,
    ContentRejected,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

POLICY = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=60.0, jitter=0.25)


@pytest.mark.parametrize(
    "error",
    [RateLimited(), ProviderUnavailable(), ProviderTimeout(), ConnectionFailed()],
)
def test_retryable_errors_are_retried_until_attempts_run_out(error: ProviderError) -> None:
    assert POLICY.decide(error, attempts=1) is not None
    assert POLICY.decide(error, attempts=2) is not None
    assert POLICY.decide(error, attempts=3) is None


@pytest.mark.parametrize("error", [ContentRejected("nsfw"), InvalidRequest(), AuthFailed()])
def test_final_errors_are_never_retried(error: ProviderError) -> None:
    assert POLICY.decide(error, attempts=1) is None


def test_backoff_grows_exponentially_within_jitter() -> None:
    rng = random.Random(1)
    delays = [POLICY.decide(ProviderUnavailable(), n, rng) for n in (1, 2)]
    first, second = (d.delay for d in delays if d is not None)
    assert 0.75 <= first <= 1.25
    assert 1.5 <= second <= 2.5


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(max_attempts=20, base_delay=1.0, max_delay=10.0, jitter=0.0)
    decision = policy.decide(ProviderUnavailable(), attempts=15)
    assert decision is not None and decision.delay == 10.0


def test_retry_after_is_a_floor() -> None:
    decision = POLICY.decide(RateLimited(retry_after=42.0), attempts=1)
    assert decision is not None and decision.delay == 42.0


def test_jitter_spreads_delays() -> None:
    rng = random.Random(7)
    delays = {POLICY.decide(ProviderUnavailable(), 2, rng).delay for _ in range(20)}  # type: ignore[union-attr]
    assert len(delays) > 10
