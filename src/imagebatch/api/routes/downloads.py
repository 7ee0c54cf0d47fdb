"""GET /api/batches/{id}/download and POST /api/downloads: outputs as one ZIP, streamed.

zipstream-ng writes the archive as it is read, each image read from storage in chunks as
its turn comes, so memory stays flat whatever the batch size. Images are stored, not
deflated (they are compressed already), which also lets the size be known up front.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from zipstream import ZIP_STORED, ZipStream

from imagebatch.api.bodies import ImageIdsIn
from imagebatch.api.deps import AppDep, CurrentUser, OwnedBatch
from imagebatch.api.errors import responses
from imagebatch.app import App
from imagebatch.blobs.base import BlobStore
from imagebatch.domain.disposition import disposition
from imagebatch.domain.filenames import extension_for, sanitize_stem, unique_stem
from imagebatch.domain.manifest import MANIFEST, manifest_csv, manifest_row
from imagebatch.domain.records import Image, Task
from imagebatch.domain.states import TaskStatus

router = APIRouter(tags=["batches"])
PAGE = 500


@router.get(
    "/api/batches/{batch_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, **responses(401, 404)},
)
async def download_batch(batch: OwnedBatch, app: AppDep) -> StreamingResponse:
    """The batch's outputs named by their filename column, with manifest.csv."""
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    rows: list[dict[str, object]] = []
    async for task, entry in _entries(app, batch.id):
        if entry is not None:
            _add(archive, app.blobs, entry)
        rows.append(manifest_row(task, entry[0] if entry else ""))
    return _zip_response(archive, rows, f"batch-{batch.id}-{batch.name[:60]}.zip")


@router.post(
    "/api/downloads",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, **responses(401, 404, 422)},
)
async def download_images(body: ImageIdsIn, user: CurrentUser, app: AppDep) -> StreamingResponse:
    """Chosen images (your outputs or uploads) as one ZIP with manifest.csv: outputs named
    by their task's filename, uploads by their file name. Any id you cannot see: 404."""
    chosen = await app.images.visible_many(user.owner, body.image_ids)
    made = await app.images.made_by_tasks(user.owner, [image.id for image in chosen])
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    rows: list[dict[str, object]] = []
    used: set[str] = set()
    for image in chosen:
        task = made.get(image.id)
        stem = task.output_filename if task else _upload_stem(image)
        name = f"{unique_stem(stem, used)}{extension_for(image.mime)}"
        _add(archive, app.blobs, (name, image.storage_key, image.bytes))
        rows.append(manifest_row(task, name) if task else {"file": name, "source": "upload"})
    return _zip_response(archive, rows, f"images-{len(chosen)}.zip")


def _upload_stem(image: Image) -> str:
    return sanitize_stem(image.original_name or "") or f"image-{image.id}"


Entry = tuple[str, str, int]


def _add(archive: ZipStream, blobs: BlobStore, entry: Entry) -> None:
    name, key, size = entry
    archive.add(_chunks(blobs, key), name, size=size)


def _zip_response(
    archive: ZipStream, rows: list[dict[str, object]], name: str
) -> StreamingResponse:
    archive.add(manifest_csv(rows), MANIFEST)
    headers = {
        "Content-Disposition": disposition(name, inline=False),
        "Content-Length": str(len(archive)),
    }
    return StreamingResponse(iter(archive), media_type="application/zip", headers=headers)


async def _entries(app: App, batch_id: int) -> AsyncIterator[tuple[Task, Entry | None]]:
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
