"""Bringing input and reference images into storage before a batch is created."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from imagebatch.blobs.base import BlobStore, content_key
from imagebatch.domain.filenames import extension_for
from imagebatch.domain.records import Image
from imagebatch.domain.requests import ImageRef, ImageUrl, LocalPath, StoredImage
from imagebatch.engine.clock import Clock
from imagebatch.errors import InputError, InputIssue, NotFound
from imagebatch.imaging.fetch import FetchLimits, fetch_image_bytes
from imagebatch.store.images import ImageRepo, NewImage

if TYPE_CHECKING:  # Pillow (0.03 s) is loaded when an image is ingested, not at every start
    from imagebatch.imaging.inputs import LoadedImage


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    fetch_timeout: float = 20.0
    allow_private_urls: bool = False


@dataclass
class Ingestor:
    """Loads each distinct file once, validates it, stores it, remembers its row."""

    images: ImageRepo
    blobs: BlobStore
    limits: ImageLimits
    clock: Clock
    _seen: dict[str, Image | InputIssue] = field(default_factory=dict)

    def fresh(self, max_bytes: int | None = None) -> Ingestor:
        """The same ingestor with an empty memory: one per submission, so a long-running
        server neither grows the cache forever nor serves a URL's old content."""
        limits = replace(self.limits, max_bytes=max_bytes) if max_bytes else self.limits
        return Ingestor(self.images, self.blobs, limits, self.clock)

    def check_bytes(self, data: bytes, name: str) -> None:
        """Validate an image without storing it (dry runs); raises InputError."""
        from imagebatch.imaging.inputs import load_image

        load_image(data, name, max_bytes=self.limits.max_bytes, max_pixels=self.limits.max_pixels)

    async def image_from_path(self, path: Path, where: str) -> Image | InputIssue:
        key = str(path.resolve())
        if key not in self._seen:
            self._seen[key] = await self._load(path, where)
        return self._seen[key]

    async def image_from_url(self, url: str, where: str) -> Image | InputIssue:
        if url not in self._seen:
            limits = FetchLimits(
                self.limits.max_bytes, self.limits.fetch_timeout, self.limits.allow_private_urls
            )
            try:
                data = await fetch_image_bytes(url, where, limits)
                self._seen[url] = await self.image_from_bytes(data, url.rsplit("/", 1)[-1])
            except InputError as error:
                self._seen[url] = replace(error.issues[0], where=where)
        return self._seen[url]

    async def image_from_bytes(self, data: bytes, name: str) -> Image:
        from imagebatch.imaging.inputs import load_image

        loaded = await asyncio.to_thread(
            load_image,
            data,
            name,
            max_bytes=self.limits.max_bytes,
            max_pixels=self.limits.max_pixels,
        )
        return await self._store(loaded)

    async def _load(self, path: Path, where: str) -> Image | InputIssue:
        try:
            if not path.is_file():
                problem = f"no such file: {path}"
                params = {"name": str(path)}
                return InputIssue(where, problem, "check the path", "no_such_file", params)
            if path.stat().st_size > self.limits.max_bytes:
                size_mb = path.stat().st_size / 1_048_576
                limit_mb = self.limits.max_bytes / 1_048_576
                return InputIssue(
                    where,
                    f"{path.name} is {size_mb:.1f} MB, the limit is {limit_mb:.0f} MB",
                    "shrink the image or raise IMAGEBATCH_MAX_IMAGE_BYTES",
                    "file_too_large",
                    {"name": path.name, "size": f"{size_mb:.1f} MB", "limit": f"{limit_mb:.0f} MB"},
                )
            data = await asyncio.to_thread(path.read_bytes)
            return await self.image_from_bytes(data, path.name)
        except InputError as error:
            return replace(error.issues[0], where=where)
        except OSError as error:
            problem = f"cannot read {path}: {error.strerror}"
            params = {"name": path.name, "reason": error.strerror or ""}
            return InputIssue(where, problem, "check permissions", "file_unreadable", params)

    async def _store(self, loaded: LoadedImage) -> Image:
        sha256, key = content_key(loaded.data, extension_for(loaded.mime))
        if not await self.blobs.exists(key):
            await self.blobs.put(key, loaded.data)
        new = NewImage(
            sha256=sha256,
            mime=loaded.mime,
            width=loaded.width,
            height=loaded.height,
            bytes=len(loaded.data),
            storage_key=key,
            kind="input",
            original_name=loaded.original_name,
        )
        return await self.images.add(new, self.clock())


@dataclass
class ImageFinder:
    """Resolves the images one submission names: URLs, stored images and (for the CLI) paths."""

    ingestor: Ingestor
    #: relative reference paths are resolved from here (the table's folder)
    base_dir: Path | None
    #: whether paths on this machine may be named (API callers may not)
    local_files: bool

    async def input_image(self, ref: ImageRef, where: str) -> Image | InputIssue:
        return await self._find(ref, where, None)

    async def reference(self, ref: ImageRef, where: str) -> Image | InputIssue:
        return await self._find(ref, where, self.base_dir)

    async def _find(self, ref: ImageRef, where: str, base_dir: Path | None) -> Image | InputIssue:
        match ref:
            case ImageUrl(url):
                return await self.ingestor.image_from_url(url, where)
            case StoredImage(image_id):
                return await self._stored(image_id, where)
            case LocalPath(path) if self.local_files:
                full = Path(path) if base_dir is None else base_dir / path
                return await self.ingestor.image_from_path(full, where)
        return InputIssue(
            where,
            f"{str(ref)!r} is not a known image",
            "use an asset, an uploaded file or a URL",
            "unknown_reference",
            {"ref": str(ref)},
        )

    async def _stored(self, image_id: int, where: str) -> Image | InputIssue:
        try:
            return await self.ingestor.images.get(image_id)
        except NotFound:
            ref = str(StoredImage(image_id))
            problem = f"no stored image {ref!r}"
            return InputIssue(where, problem, "upload it again", "unknown_reference", {"ref": ref})
