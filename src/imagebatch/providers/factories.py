"""Provider factories by name: the only place that knows the concrete adapters.

The adapters are imported inside their factories: the SDKs behind them are slow to import
(OpenAI's alone takes about a second), and most commands use one provider or none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from pydantic import SecretStr

from imagebatch.config import Settings
from imagebatch.imaging.fetch import FetchLimits
from imagebatch.providers.base import ImageProvider
from imagebatch.providers.keys import KeyLimits

ProviderFactory = Callable[[Settings], ImageProvider]


def _demo(settings: Settings) -> ImageProvider:
    from imagebatch.providers.demo import DemoProvider  # Pillow's drawing, for this one only

    return DemoProvider(
        latency_ms=settings.demo_latency_ms, failure_rate=settings.demo_failure_rate
    )


def key_limits(settings: Settings, provider: str) -> KeyLimits:
    return KeyLimits(
        rpm=settings.key_rpm.get(provider), concurrency=settings.key_concurrency.get(provider)
    )


def result_downloads(settings: Settings) -> FetchLimits:
    """Limits for images a provider answers with as links (they obey allow_private_urls)."""
    return FetchLimits(
        max_bytes=settings.max_output_bytes,
        timeout=settings.url_fetch_timeout,
        allow_private=settings.allow_private_urls,
    )


def _openai(settings: Settings) -> ImageProvider:
    from imagebatch.providers.openai_batch import OpenAIBatchProvider

    return OpenAIBatchProvider(
        settings.openai_api_key,
        settings.openai_base_url,
        settings.provider_timeout,
        key_limits=key_limits(settings, "openai"),
        download=result_downloads(settings),
        batch_discount=settings.economy_discount.get("openai", 0.5),
    )


def _openai_compatible(settings: Settings) -> ImageProvider:
    from imagebatch.providers.openai_images import (
        OpenAIImagesProvider,
        compatible_capabilities,
    )

    # Self-hosted servers often need no key; the SDK still wants one to send.
    key = settings.openai_compatible_api_key or SecretStr("unused")
    return OpenAIImagesProvider(
        key,
        settings.openai_compatible_base_url,
        settings.provider_timeout,
        name="openai-compatible",
        capabilities=compatible_capabilities(settings.openai_compatible_model),
        key_limits=key_limits(settings, "openai-compatible"),
        download=result_downloads(settings),
    )


def _gemini(settings: Settings) -> ImageProvider:
    from imagebatch.providers.gemini_batch import GeminiBatchProvider

    return GeminiBatchProvider(
        settings.gemini_api_key,
        settings.gemini_base_url,
        settings.provider_timeout,
        key_limits(settings, "gemini"),
        batch_discount=settings.economy_discount.get("gemini", 0.5),
    )


def _seedream(settings: Settings) -> ImageProvider:
    from imagebatch.providers.seedream import SeedreamProvider

    return SeedreamProvider(
        settings.seedream_api_key,
        settings.seedream_base_url,
        settings.provider_timeout,
        key_limits=key_limits(settings, "seedream"),
        download=result_downloads(settings),
    )


def _comfyui(settings: Settings) -> ImageProvider:
    from imagebatch.providers.comfyui import ComfyUIProvider, load_workflow

    workflow = load_workflow(settings.comfyui_workflow)
    return ComfyUIProvider(
        settings.comfyui_base_url,
        workflow,
        settings.provider_timeout,
        backend_concurrency=settings.comfyui_backend_concurrency,
    )


def _jimeng(settings: Settings) -> ImageProvider:
    from imagebatch.providers.jimeng import JimengProvider

    return JimengProvider(
        settings.jimeng_api_key,
        settings.jimeng_base_url,
        settings.provider_timeout,
        key_limits=key_limits(settings, "jimeng"),
    )


PROVIDERS: dict[str, ProviderFactory] = {
    "demo": _demo,
    "gemini": _gemini,
    "seedream": _seedream,
    "jimeng": _jimeng,
    "comfyui": _comfyui,
    "openai": _openai,
    "openai-compatible": _openai_compatible,
}


class LazyProviders(Mapping[str, ImageProvider]):
    """Every provider by name, each built (and its SDK imported) when first used: a command
    that never calls OpenAI does not pay the second it takes to import its SDK."""

    def __init__(self, settings: Settings, factories: Mapping[str, ProviderFactory]) -> None:
        self._settings = settings
        self._factories = dict(factories)
        self._built: dict[str, ImageProvider] = {}

    def __getitem__(self, name: str) -> ImageProvider:
        if name not in self._built:
            self._built[name] = self._factories[name](self._settings)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)

    def built(self) -> list[ImageProvider]:
        """The providers made so far (the ones to close)."""
        return list(self._built.values())


def build_providers(settings: Settings) -> LazyProviders:
    return LazyProviders(settings, PROVIDERS)
