"""One generation request — what to draw and from which images — as one value, whatever
stage it is at. Its images change form on the way, so the value is generic in them:

- `ImageRequest[ImageRef]` in a TaskSpec: images as the user named them (a path, a URL, a
  stored image), typed where the input is read (CLI, API, tables);
- `ImageRequest[Image]` while a batch is created: stored, with their content hashes (the
  request key is defined on this stage only);
- `ImageRequest[int]` in a stored task: the stored images' ids;
- `ImageRequest[ImageBytes]` in a provider request: the bytes to send.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from imagebatch.domain.specs import AspectRatio, Mode, Resolution

R = TypeVar("R")
S = TypeVar("S")

#: how a user names a stored image on the wire ("image:12"): the API's uploads and assets
STORED_IMAGE_PREFIX = "image:"


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An image already in storage (an upload, an asset, an earlier output)."""

    id: int

    def __str__(self) -> str:
        return f"{STORED_IMAGE_PREFIX}{self.id}"


@dataclass(frozen=True, slots=True)
class ImageUrl:
    """An http(s) address, fetched (with the outbound rules) when the batch is created."""

    url: str

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True, slots=True)
class LocalPath:
    """A file named as the user wrote it: relative to the table's folder, or absolute. Only
    the CLI may open one; the API resolves such names to its uploads first."""

    path: str

    def __str__(self) -> str:
        return self.path


#: an input or reference image as a user named it; `str()` gives it back as written
ImageRef = StoredImage | ImageUrl | LocalPath


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def image_ref(text: str) -> ImageRef:
    """A reference as written in a table cell or on the command line: a URL or a file name
    (never a stored image: users name those through the API's assets and uploads)."""
    return ImageUrl(text) if _is_url(text) else LocalPath(text)


class Hashed(Protocol):
    """A stored image as the request key sees it: by content."""

    @property
    def sha256(self) -> str: ...


H = TypeVar("H", bound=Hashed)


@dataclass(frozen=True, slots=True)
class ImageRequest(Generic[R]):
    """What one output image is made from. Equal requests make interchangeable outputs.

    Build it unsubscripted (`ImageRequest(...)`, typed by its images or an annotation):
    `ImageRequest[int](...)` fails, as typing cannot tag a frozen, slotted instance."""

    prompt: str
    negative_prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    seed: int | None = None
    #: copies of one request differ by variant when no seed pins them
    variant: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    #: edit mode: the image to edit
    input_image: R | None = None
    references: tuple[R, ...] = ()

    @property
    def mode(self) -> Mode:
        return Mode.GENERATE if self.input_image is None else Mode.EDIT

    @property
    def images(self) -> tuple[R, ...]:
        """Every image it is made from: the edited one first, then the references."""
        edited = () if self.input_image is None else (self.input_image,)
        return edited + self.references

    def with_images(self, input_image: S | None, references: tuple[S, ...]) -> ImageRequest[S]:
        """The same request with its images in another form (stored, loaded…)."""
        return ImageRequest(
            self.prompt,
            self.negative_prompt,
            self.aspect_ratio,
            self.resolution,
            self.seed,
            self.variant,
            self.params,
            input_image,
            references,
        )

    def map_images(self, convert: Callable[[R], S]) -> ImageRequest[S]:
        edited = None if self.input_image is None else convert(self.input_image)
        return self.with_images(edited, tuple(convert(image) for image in self.references))

    def plain(self) -> dict[str, object]:
        """Its own fields as JSON values (enums as their text), images aside: what the store,
        a dry run, the request key and the provenance record all hold of it."""
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "aspect_ratio": self.aspect_ratio.value if self.aspect_ratio else None,
            "resolution": self.resolution.value if self.resolution else None,
            "seed": self.seed,
            "variant": self.variant,
            "params": self.params,
        }

    def request_key(self: ImageRequest[H], provider: str, model: str) -> str:
        """Everything that determines the output: equal keys of one owner share an output
        (--reuse). The owner is not part of the key (keys stored before stay valid): the
        lookup filters by it. Images count by content, not by where they came from."""
        parts = {
            **self.plain(),
            "provider": provider,
            "model": model,
            "input": self.input_image.sha256 if self.input_image else None,
            "references": [image.sha256 for image in self.references],
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def provenance(self, seed_used: int | None) -> dict[str, object]:
        """Its part of an output's provenance record (imaging/provenance.py), in the record's
        order: the seed is the one really used, the user's own when none was recorded."""
        return {**self.plain(), "seed": self.seed if seed_used is None else seed_used}
