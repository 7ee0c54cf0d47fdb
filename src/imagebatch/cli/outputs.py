"""The output folder: finished images under their names, and manifest.csv beside them.

Each image is a hard link to its stored file where possible (blobs/placing.py), so a run
takes the images' disk space once, not twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from imagebatch.app import App
from imagebatch.blobs.local import write_atomically
from imagebatch.blobs.placing import Placement, place_from_loop
from imagebatch.domain.filenames import extension_for
from imagebatch.domain.manifest import MANIFEST, manifest_csv, manifest_row
from imagebatch.domain.records import Image, Task
from imagebatch.domain.states import TaskStatus


def existing_stems(folder: Path) -> frozenset[str]:
    """Stems of files already in the folder: other people's files we must not overwrite."""
    if not folder.is_dir():
        return frozenset()
    return frozenset(p.stem for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)


async def all_tasks(app: App, batch_id: int) -> AsyncIterator[Task]:
    after = 0
    while page := await app.tasks.page(batch_id, after_id=after, limit=500):
        for task in page:
            yield task
        after = page[-1].id


class OutputFolder:
    def __init__(self, app: App, folder: Path) -> None:
        self.app = app
        self.folder = folder
        #: the file name of each task exported this run
        self._written: dict[int, str] = {}
        #: how many files this run put into the folder, by how
        self.placed: Counter[Placement] = Counter()

    def file_for(self, task: Task, image: Image) -> Path:
        return self.folder / f"{task.output_filename}{extension_for(image.mime)}"

    async def export(self, task: Task, image: Image | None = None) -> None:
        """Put one succeeded task's output (`image`, else read) into the folder (atomically;
        once per run)."""
        if task.id in self._written or task.output_image_id is None:
            return
        image = image or await self.app.images.get(task.output_image_id)
        target = self.file_for(task, image)
        if not (target.exists() and target.stat().st_size == image.bytes):
            self.placed[await self._place(image, target)] += 1
        self._written[task.id] = target.name

    async def _place(self, image: Image, target: Path) -> Placement:
        """A link to the stored file when the store is on this machine, else a copy."""
        source = self.app.blobs.local_path(image.storage_key)
        if source is not None:
            return await place_from_loop(source, target)
        data = await self.app.blobs.get(image.storage_key)
        await asyncio.to_thread(write_atomically, target, data)
        return Placement.COPIED

    def placement_note(self) -> str | None:
        """How this run's files got into the folder, e.g. "Output files: 20 hard-linked (no
        second copy on disk)"; None when it put none there."""
        counts = [(p, self.placed[p]) for p in Placement if self.placed[p]]
        if not counts:
            return None
        note = "Output files: " + ", ".join(f"{n} {p.value}" for p, n in counts)
        return note if self.placed[Placement.COPIED] else f"{note} (no second copy on disk)"

    async def export_task_id(self, task_id: int) -> None:
        await self.export(await self.app.tasks.get(task_id))

    async def finish(self, batch_id: int) -> dict[str, int]:
        """Export anything missed, write manifest.csv; returns counts by status."""
        counts: dict[str, int] = {}
        rows: list[dict[str, object]] = []
        async for task in all_tasks(self.app, batch_id):
            counts[task.status.value] = counts.get(task.status.value, 0) + 1
            file = ""
            if task.status is TaskStatus.SUCCEEDED and task.output_image_id is not None:
                await self.export(task)
                file = self._written[task.id]
            rows.append(manifest_row(task, file))
        data = manifest_csv(rows)
        await asyncio.to_thread(write_atomically, self.folder / MANIFEST, data)
        return counts
