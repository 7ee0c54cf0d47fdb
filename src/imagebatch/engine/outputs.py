"""Turning a task into a provider request, and a provider result into a stored output."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace

from imagebatch import __version__
from imagebatch.blobs.base import BlobStore, content_key
from imagebatch.domain.filenames import extension_for
from imagebatch.domain.records import Image, Task
from imagebatch.domain.seeds import derived_seed
from imagebatch.domain.states import TaskStatus
from imagebatch.engine.events import Output
from imagebatch.errors import ProviderUnavailable
from imagebatch.imaging import provenance
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import ImageBytes, ImageProvider, ProviderRequest, ProviderResult
from imagebatch.store.images import ImageRepo, NewImage


class OutputWriter:
    def __init__(
        self,
        images: ImageRepo,
        blobs: BlobStore,
        providers: Mapping[str, ImageProvider] | None = None,
    ) -> None:
        self.images = images
        self.blobs = blobs
        #: which models take a seed: they get one derived when the user gave none
        self.providers = providers or {}

    async def request_for(self, task: Task) -> ProviderRequest:
        ids = task.request.images
        rows = await self.images.get_many(list(ids))
        loaded = {
            i: ImageBytes(await self.blobs.get(rows[i].storage_key), rows[i].mime) for i in ids
        }
        asked = replace(task.request.map_images(loaded.__getitem__), seed=self.seed_for(task))
        return ProviderRequest(model=task.model, asked=asked)

    def seed_for(self, task: Task) -> int | None:
        """The seed to send: the user's; else, for a model that takes one, one derived from
        the request (the same on every attempt, so the recorded seed reproduces the image)."""
        if task.request.seed is not None or not self._takes_seed(task):
            return task.request.seed
        return derived_seed(task.request_key)

    def with_seed_used(self, task: Task, result: ProviderResult) -> Task:
        """The task with the seed its provider used: the one the provider reports (it may
        narrow ours to its range), else the one we sent."""
        used = result.seed if result.seed is not None else self.seed_for(task)
        return replace(task, seed_used=used)

    def _takes_seed(self, task: Task) -> bool:
        provider = self.providers.get(task.provider)
        model = provider.capabilities.model(task.model) if provider is not None else None
        return model is not None and model.seed

    async def store(self, task: Task, result: ProviderResult) -> NewImage:
        """Check the bytes are a whole image, stamp provenance, write under their hash."""
        if not result.images:
            raise ProviderUnavailable("the provider answered without an image")
        # One hand-off to a thread for all of it: each hop costs as much as the work.
        return await asyncio.to_thread(self._stamp_and_write, task, result.images[0].data)

    def _stamp_and_write(self, task: Task, data: bytes) -> NewImage:
        mime, width, height = probe_output(data)  # also rejects truncated or garbage bytes
        stamped = provenance.embed(data, mime, provenance_of(task))
        sha256, key = content_key(stamped, extension_for(mime))
        self.blobs.put_blocking(key, stamped)
        return NewImage(
            sha256=sha256,
            mime=mime,
            width=width,
            height=height,
            bytes=len(stamped),
            storage_key=key,
            kind="output",
            original_name=task.output_filename,
            parent_image_id=task.request.input_image,
        )

    def recorded(self, task: Task, image: NewImage, image_id: int) -> Output:
        """The output as recorded under `image_id`, for listeners in this process. A row
        that was already there (the same bytes) has the same key, type and size."""
        row = Image(
            id=image_id,
            sha256=image.sha256,
            mime=image.mime,
            width=image.width,
            height=image.height,
            bytes=image.bytes,
            storage_key=image.storage_key,
            kind=image.kind,
            original_name=image.original_name,
            parent_image_id=image.parent_image_id,
        )
        done = replace(task, status=TaskStatus.SUCCEEDED, output_image_id=image_id)
        return Output(done, row)

    async def discard_if_orphan(self, image: NewImage) -> None:
        """We lost the task after writing its output: remove the file unless a row uses it."""
        if not await self.images.referenced(image.sha256):
            await self.blobs.delete(image.storage_key)


def provenance_of(task: Task) -> dict[str, object]:
    return {
        "generator": f"imagebatch {__version__}",
        **task.request.provenance(task.seed_used),
        "provider": task.provider,
        "model": task.model,
        "batch_id": task.batch_id,
        "task_id": task.id,
        "source": task.source,
    }
