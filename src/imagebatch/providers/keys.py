"""API key pools: several keys per provider, used in turn; a key the provider rejects is
taken out of the pool with a log line (naming only its last four characters)."""

from __future__ import annotations

import itertools
import logging

from pydantic import SecretStr

from imagebatch.errors import AuthFailed

log = logging.getLogger(__name__)


def mask(key: str) -> str:
    return f"…{key[-4:]}" if len(key) > 8 else "…"


class KeyPool:
    def __init__(self, provider: str, secret: SecretStr | None) -> None:
        self.provider = provider
        raw = secret.get_secret_value() if secret else ""
        self._keys = [k.strip() for k in raw.split(",") if k.strip()]
        self._disabled: set[str] = set()
        self._turn = itertools.count()

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
        return keys[next(self._turn) % len(keys)]

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
