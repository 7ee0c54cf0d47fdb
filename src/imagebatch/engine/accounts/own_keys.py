"""Users' own provider API keys (BYOK): kept encrypted, opened only for the call that
uses them. Tasks of a batch created while its owner had a key for the provider run on that
key and cost no credits; if the key is removed meanwhile, those tasks fail rather than
quietly spend the server's keys."""

from __future__ import annotations

from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.secrets import SecretBox
from imagebatch.errors import InputError, InputIssue
from imagebatch.store.provider_keys import OwnKey, ProviderKeyRepo


class OwnKeys:
    def __init__(self, repo: ProviderKeyRepo, box: SecretBox, clock: Clock = utc_now) -> None:
        self.repo = repo
        self.box = box
        self.clock = clock

    async def save(self, owner: str, provider: str, key: str) -> OwnKey:
        key = key.strip()
        if len(key) < 8 or any(c.isspace() for c in key):
            raise InputError(
                InputIssue(
                    "api_key", "does not look like an API key", "paste the whole key", "bad_api_key"
                )
            )
        await self.repo.put(owner, provider, self.box.seal(key), key[-4:], self.clock())
        return next(k for k in await self.repo.of_owner(owner) if k.provider == provider)

    async def key(self, owner: str, provider: str) -> str | None:
        sealed = await self.repo.sealed(owner, provider)
        return self.box.open(sealed) if sealed else None

    async def providers(self, owner: str) -> frozenset[str]:
        return frozenset(k.provider for k in await self.repo.of_owner(owner))
