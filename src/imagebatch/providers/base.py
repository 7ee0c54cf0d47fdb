"""The one Protocol every image provider implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from imagebatch.domain.capabilities import ProviderCapabilities
from imagebatch.domain.specs import AspectRatio, Mode, Resolution


@dataclass(frozen=True, slots=True)
class InputImage:
    data: bytes
    mime: str


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    mode: Mode
    model: str
    prompt: str
    negative_prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    seed: int | None = None
    #: copies of one request differ by variant when no seed pins them
    variant: int = 0
    #: edit mode: the image to edit comes first; then the reference images
    images: tuple[InputImage, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    #: the task owner's own API key (BYOK), used instead of the server's keys
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    data: bytes
    mime: str


@dataclass(frozen=True, slots=True)
class ProviderResult:
    images: tuple[GeneratedImage, ...]
    request_id: str | None = None


class ImageProvider(Protocol):
    """An image API. `generate` raises only imagebatch.errors.ProviderError subclasses."""

    name: ClassVar[str]

    @property
    def capabilities(self) -> ProviderCapabilities: ...

    @property
    def configured(self) -> bool:
        """Whether it can be used here (keys and base URL set)."""

    async def generate(self, request: ProviderRequest) -> ProviderResult: ...

    async def aclose(self) -> None: ...
