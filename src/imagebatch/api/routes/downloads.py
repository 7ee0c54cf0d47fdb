"""GET /api/batches/{id}/download: the outputs as one ZIP, streamed.

zipstream-ng writes the archive as it is read, each image read from storage in chunks as
its turn comes, so memory stays flat whatever the batch size. Images are stored, not
deflated (they are compressed already), which also lets the size be known up front.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from zipstream import ZIP_STORED, ZipStream

from imagebatch.api.deps import AppDep, CurrentUser, ObjectId
from imagebatch.api.errors import responses
from imagebatch.api.routes.batches import owned_batch
from imagebatch.app import App
from imagebatch.blobs.base import BlobStore
from imagebatch.domain.disposition import disposition
from imagebatch.domain.filenames import extension_for
from imagebatch.domain.manifest import MANIFEST, manifest_csv, manifest_row
from imagebatch.domain.records import Task
from imagebatch.domain.states import TaskStatus

router = APIRouter(tags=["batches"])
PAGE = 500


@router.get(
    "/api/batches/{batch_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, **responses(401, 404)},
)
async def download_batch(batch_id: ObjectId, user: CurrentUser, app: AppDep) -> StreamingResponse:
    """The batch's outputs named by their filename column, with manifest.csv."""
    batch = await owned_batch(app, user, batch_id)
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    rows: list[dict[str, object]] = []
    async for task, entry in _entries(app, batch_id):
        if entry is not None:
            name, key, size = entry
            archive.add(_chunks(app.blobs, key), name, size=size)
        rows.append(manifest_row(task, entry[0] if entry else ""))
    archive.add(manifest_csv(rows), MANIFEST)
    filename = f"batch-{batch.id}-{batch.name[:60]}.zip"
    headers = {
        "Content-Disposition": disposition(filename, inline=False),
        "Content-Length": str(len(archive)),
    }
    return StreamingResponse(iter(archive), media_type="application/zip", headers=headers)


Entry = tuple[str, str, int]


async def _entries(app: App, batch_id: ObjectId) -> AsyncIterator[tuple[Task, Entry | None]]:
    """(task, (name in the archive, storage key, size) or None) for every task in order."""
    after = 0
    while page := await app.tasks.page(batch_id, after_id=after, limit=PAGE):
        after = page[-1].id
        ids = [t.output_image_id for t in page if _has_output(t)]
        found = await app.images.get_many([i for i in ids if i is not None])
        for task in page:
            image = found.get(task.output_image_id or 0) if _has_output(task) else None
            if image is None:
                yield task, None
            else:
                name = f"{task.output_filename}{extension_for(image.mime)}"
                yield task, (name, image.storage_key, image.bytes)


def _has_output(task: Task) -> bool:
    return task.status is TaskStatus.SUCCEEDED and task.output_image_id is not None


def _chunks(blobs: BlobStore, key: str) -> Iterator[bytes]:
    # A generator: nothing is read until the archive reaches this file.
    yield from blobs.read_chunks_blocking(key)
