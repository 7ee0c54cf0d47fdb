"""API key pools: several keys per provider, used in turn. A key the provider rejects is
taken out of the pool, and a key whose daily quota is spent rests until it resets; both with
a log line naming only the key's last four characters."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable

from pydantic import SecretStr

from imagebatch.errors import AuthFailed, RateLimited

log = logging.getLogger(__name__)


def mask(key: str) -> str:
    return f"…{key[-4:]}" if len(key) > 8 else "…"


class KeyPool:
    def __init__(
        self,
        provider: str,
        secret: SecretStr | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        raw = secret.get_secret_value() if secret else ""
        self._keys = [k.strip() for k in raw.split(",") if k.strip()]
        self._disabled: set[str] = set()
        self._resting: dict[str, float] = {}
        self._turn = itertools.count()
        self._clock = clock

    @property
    def configured(self) -> bool:
        return bool(self._keys)

    def active(self) -> list[str]:
        return [k for k in self._keys if k not in self._disabled]

    def next(self) -> str:
        keys = self.active()
        if not keys:
            hint = f"set IMAGEBATCH_{self.provider.upper().replace('-', '_')}_API_KEY"
            raise AuthFailed(f"{self.provider}: no usable API key ({hint})")
        now = self._clock()
        awake = [k for k in keys if self._resting.get(k, 0.0) <= now]
        if not awake:
            wait = min(self._resting[k] for k in keys) - now
            raise RateLimited(f"{self.provider}: every key's quota is spent", retry_after=wait)
        return awake[next(self._turn) % len(awake)]

    def rest(self, key: str, seconds: float, reason: str) -> None:
        """Leave this key alone for `seconds` (its daily quota is spent)."""
        self._resting[key] = self._clock() + seconds
        log.warning(
            "%s: API key %s rests for %.0f s: %s", self.provider, mask(key), seconds, reason
        )

    def disable(self, key: str, reason: str) -> None:
        if key not in self._disabled:
            self._disabled.add(key)
            log.warning(
                "%s: API key %s taken out of the pool: %s (%d left)",
                self.provider,
                mask(key),
                reason,
                len(self.active()),
            )

    def scrub(self, text: str) -> str:
        """The text with any of our keys masked: provider messages sometimes echo them."""
        for key in self._keys:
            text = text.replace(key, mask(key))
        return text
