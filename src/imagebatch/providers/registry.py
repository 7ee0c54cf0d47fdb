"""Provider factories by name: the only place that knows the concrete adapters."""

from __future__ import annotations

from collections.abc import Callable

from imagebatch.config import Settings
from imagebatch.providers.base import ImageProvider
from imagebatch.providers.demo import DemoProvider

ProviderFactory = Callable[[Settings], ImageProvider]


def _demo(settings: Settings) -> ImageProvider:
    return DemoProvider(
        latency_ms=settings.demo_latency_ms, failure_rate=settings.demo_failure_rate
    )


PROVIDERS: dict[str, ProviderFactory] = {
    "demo": _demo,
}


def build_providers(settings: Settings) -> dict[str, ImageProvider]:
    return {name: factory(settings) for name, factory in PROVIDERS.items()}
