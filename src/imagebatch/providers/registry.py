"""Provider factories by name: the only place that knows the concrete adapters."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from imagebatch.config import Settings
from imagebatch.imaging.fetch import FetchLimits
from imagebatch.providers.base import ImageProvider
from imagebatch.providers.comfyui import ComfyUIProvider, load_workflow
from imagebatch.providers.demo import DemoProvider
from imagebatch.providers.gemini_batch import GeminiBatchProvider
from imagebatch.providers.jimeng import JimengProvider
from imagebatch.providers.keys import KeyLimits
from imagebatch.providers.openai_batch import OpenAIBatchProvider
from imagebatch.providers.openai_images import OpenAIImagesProvider, compatible_capabilities
from imagebatch.providers.seedream import SeedreamProvider

ProviderFactory = Callable[[Settings], ImageProvider]


def _demo(settings: Settings) -> ImageProvider:
    return DemoProvider(
        latency_ms=settings.demo_latency_ms, failure_rate=settings.demo_failure_rate
    )


def key_limits(settings: Settings, provider: str) -> KeyLimits:
    return KeyLimits(
        rpm=settings.key_rpm.get(provider), concurrency=settings.key_concurrency.get(provider)
    )


def _openai(settings: Settings) -> ImageProvider:
    return OpenAIBatchProvider(
        settings.openai_api_key,
        settings.openai_base_url,
        settings.provider_timeout,
        key_limits=key_limits(settings, "openai"),
        batch_discount=settings.economy_discount.get("openai", 0.5),
    )


def _openai_compatible(settings: Settings) -> ImageProvider:
    # Self-hosted servers often need no key; the SDK still wants one to send.
    key = settings.openai_compatible_api_key or SecretStr("unused")
    return OpenAIImagesProvider(
        key,
        settings.openai_compatible_base_url,
        settings.provider_timeout,
        name="openai-compatible",
        capabilities=compatible_capabilities(settings.openai_compatible_model),
        key_limits=key_limits(settings, "openai-compatible"),
    )


def _gemini(settings: Settings) -> ImageProvider:
    return GeminiBatchProvider(
        settings.gemini_api_key,
        settings.gemini_base_url,
        settings.provider_timeout,
        key_limits(settings, "gemini"),
        batch_discount=settings.economy_discount.get("gemini", 0.5),
    )


def _seedream(settings: Settings) -> ImageProvider:
    download = FetchLimits(
        max_bytes=settings.max_output_bytes,
        timeout=settings.url_fetch_timeout,
        allow_private=settings.allow_private_urls,
    )
    return SeedreamProvider(
        settings.seedream_api_key,
        settings.seedream_base_url,
        settings.provider_timeout,
        key_limits=key_limits(settings, "seedream"),
        download=download,
    )


def _comfyui(settings: Settings) -> ImageProvider:
    workflow = load_workflow(settings.comfyui_workflow)
    return ComfyUIProvider(settings.comfyui_base_url, workflow, settings.provider_timeout)


def _jimeng(settings: Settings) -> ImageProvider:
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


def build_providers(settings: Settings) -> dict[str, ImageProvider]:
    return {name: factory(settings) for name, factory in PROVIDERS.items()}
