"""One provider call for one task: the right provider, the owner's own key when the task
runs on it, and the provider's requests-per-minute pacing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from imagebatch.domain.records import Task
from imagebatch.engine.accounts.own_keys import OwnKeys
from imagebatch.engine.worker.ratelimit import RateLimits
from imagebatch.errors import AuthFailed, InvalidRequest, RateLimited
from imagebatch.providers.base import ImageProvider, ProviderRequest, ProviderResult


class ProviderCaller:
    def __init__(
        self,
        providers: Mapping[str, ImageProvider],
        rate_limits: RateLimits | None = None,
        own_keys: OwnKeys | None = None,
    ) -> None:
        self.providers = providers
        self.rate_limits = rate_limits
        self.own_keys = own_keys

    async def call(self, task: Task, request: ProviderRequest) -> ProviderResult:
        provider = self.providers.get(task.provider)
        if provider is None:
            raise InvalidRequest(f"provider {task.provider!r} is not configured on this worker")
        if task.own_key:
            request = replace(request, api_key=await self._own_key(task))
        return await self._paced(task.provider, provider, request)

    async def _own_key(self, task: Task) -> str:
        key = await self.own_keys.key(task.owner, task.provider) if self.own_keys else None
        if key is None:
            raise AuthFailed(
                f"{task.provider}: this task runs on your own API key, which was removed; "
                "add it again and retry, or retry the batch on the server's key"
            )
        return key

    async def _paced(
        self, name: str, provider: ImageProvider, request: ProviderRequest
    ) -> ProviderResult:
        """The call, paced by the provider's requests-per-minute bucket when it has one."""
        bucket = self.rate_limits.bucket(name) if self.rate_limits else None
        if bucket is None:
            return await provider.generate(request)
        await bucket.acquire()
        try:
            result = await provider.generate(request)
        except RateLimited as error:
            bucket.on_rate_limited(error.retry_after)
            raise
        bucket.on_success()
        return result
