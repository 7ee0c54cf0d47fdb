"""When to try a failed task again, and after how long. Retry is data: the engine obeys it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from imagebatch.errors import ProviderError, RetryableError


@dataclass(frozen=True, slots=True)
class RetryDecision:
    #: seconds to wait before the task may be claimed again
    delay: float


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    #: attempts in all, the first included (3 = up to 2 retries)
    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 120.0
    #: each delay is scaled by a random factor in [1 - jitter, 1 + jitter]
    jitter: float = 0.25

    def decide(
        self,
        error: ProviderError,
        attempts: int,
        rng: random.Random | None = None,
        max_attempts: int | None = None,
    ) -> RetryDecision | None:
        """None means give up: the error is final or the attempts are used up. A task's own
        `max_attempts` (fixed when its batch was created) wins over the policy's."""
        limit = max_attempts or self.max_attempts
        if not isinstance(error, RetryableError) or attempts >= limit:
            return None
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
        backoff *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        # A provider's own Retry-After is a floor: asking earlier only earns another 429.
        return RetryDecision(delay=max(backoff, error.retry_after or 0.0))
