"""Images as users browse them: thumbnails made on first request, history entries deleted
with their files when nothing else uses them, old entries swept by the retention setting, and
objects no image row uses (orphans) swept too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from imagebatch.blobs.base import BlobStore, StoredObject, content_key
from imagebatch.domain.records import Batch, Image
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.runtime import RuntimeSettingsService
from imagebatch.errors import NotFound
from imagebatch.imaging.inputs import make_thumbnail
from imagebatch.store.batch_removal import BatchRemoval
from imagebatch.store.history import HistoryRepo
from imagebatch.store.images import ImageRepo

log = logging.getLogger(__name__)

THUMBNAIL_MIME = "image/webp"
SWEEP_EVERY = 3600.0
SWEEP_CHUNK = 500
#: An object is written before the row that uses it commits (a worker stores its output,
#: then records the task), so a young object without a row may be about to get one. A worker
#: that died in between leaves one for good. Far longer than any write-then-commit: that
#: happens within a task's lease (minutes at most).
ORPHAN_GRACE = timedelta(hours=1)


class Library:
    def __init__(
        self,
        images: ImageRepo,
        history: HistoryRepo,
        blobs: BlobStore,
        runtime_settings: RuntimeSettingsService,
        clock: Clock = utc_now,
    ) -> None:
        self.images = images
        self.history = history
        self.blobs = blobs
        self.runtime_settings = runtime_settings
        self.clock = clock
        self.removal = BatchRemoval(history.db)

    async def thumbnail(self, image: Image) -> bytes:
        """A small WebP of the image, made once and kept under its own content key."""
        if image.thumbnail_key and await self.blobs.exists(image.thumbnail_key):
            return await self.blobs.get(image.thumbnail_key)
        small = await asyncio.to_thread(make_thumbnail, await self.blobs.get(image.storage_key))
        _, key = content_key(small, ".webp")
        await self.blobs.put(key, small)
        await self.images.set_thumbnail(image.id, key)
        return small

    async def remove_from_history(self, owner: str, task_id: int) -> None:
        unused = await self.history.delete(owner, task_id, self.clock())
        if unused is not None:
            await self._discard(unused)

    async def remove_many_from_history(self, owner: str, task_ids: list[int]) -> int:
        """Several tasks at once: all of them, or none if one is not in the owner's history."""
        unused = await self.history.delete_many(owner, task_ids, self.clock())
        for image in unused:
            await self._discard(image)
        return len(set(task_ids))

    async def delete_batch(self, batch_id: int) -> Batch:
        """A finished batch, its tasks, and the images nothing else uses, with their files."""
        batch, used = await self.removal.delete(batch_id)
        for image in used:  # outputs first: an input is then no longer a parent
            await self._discard(image)
        return batch

    async def _discard(self, image: Image) -> None:
        # The row goes first (re-checked in its transaction): a crash between the two steps
        # leaves a file without a row, never a row without its file.
        if not await self.history.forget_image(image):
            return
        for key in (image.storage_key, image.thumbnail_key):
            if key:
                await self.blobs.delete(key)

    async def sweep(self) -> int:
        """Delete history entries older than the retention setting; returns how many."""
        days = (await self.runtime_settings.current()).retention_days
        if not days:
            return 0
        cutoff = self.clock() - timedelta(days=days)
        swept = 0
        while batch := await self.history.finished_before(cutoff, SWEEP_CHUNK):
            for owner, task_id in batch:
                with contextlib.suppress(NotFound):  # its owner deleted it meanwhile
                    await self.remove_from_history(owner, task_id)
            swept += len(batch)
        return swept

    async def sweep_orphans(self, older_than: timedelta = ORPHAN_GRACE) -> int:
        """Delete objects written more than `older_than` ago that no image row uses (as its
        file or its thumbnail), e.g. the output of a worker killed before it recorded the
        task; returns how many."""
        cutoff = self.clock() - older_than
        old: list[StoredObject] = []
        deleted = 0
        async for stored in self.blobs.iter_objects():
            if stored.modified < cutoff:
                old.append(stored)
            if len(old) >= SWEEP_CHUNK:
                deleted += await self._delete_unused(old)
                old = []
        return deleted + await self._delete_unused(old)

    async def _delete_unused(self, candidates: list[StoredObject]) -> int:
        used = await self.images.referenced_keys([c.key for c in candidates])
        unused = [c.key for c in candidates if c.key not in used]
        for key in unused:
            await self.blobs.delete(key)
        return len(unused)

    async def run_sweeps(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                swept = await self.sweep()
                if swept:
                    log.info("retention: deleted %d old record(s)", swept)
                orphans = await self.sweep_orphans()
                if orphans:
                    log.info("storage: deleted %d object(s) no image uses", orphans)
            except Exception:
                log.exception("retention sweep failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SWEEP_EVERY)
