"""Task specs and provider requests written flat, as tests think of them."""

from __future__ import annotations

from typing import Any

from imagebatch.domain.requests import ImageRequest, image_ref
from imagebatch.domain.specs import Mode, TaskSpec
from imagebatch.providers.base import ImageBytes, ProviderRequest


def provider_request(
    model: str,
    prompt: str,
    *,
    mode: Mode = Mode.GENERATE,
    images: tuple[ImageBytes, ...] = (),
    api_key: str | None = None,
    **fields: Any,
) -> ProviderRequest:
    """In edit mode the first of `images` is the one to edit; the others are references."""
    edits = mode is Mode.EDIT and bool(images)
    edited, references = (images[0], images[1:]) if edits else (None, images)
    asked = ImageRequest(prompt, input_image=edited, references=references, **fields)
    return ProviderRequest(model, asked, api_key)


def task_spec(
    prompt: str,
    *,
    reference_images: tuple[str, ...] = (),
    input_image: str | None = None,
    user_prompt: str | None = None,
    filename: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    source: str | None = None,
    **fields: Any,
) -> TaskSpec:
    """Images named as a user writes them (paths or URLs)."""
    edited = image_ref(input_image) if input_image is not None else None
    references = tuple(image_ref(text) for text in reference_images)
    asked = ImageRequest(prompt, input_image=edited, references=references, **fields)
    return TaskSpec(asked, user_prompt, filename, provider, model, source)
