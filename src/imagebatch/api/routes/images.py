"""/api/images: an image's details, bytes, thumbnail, lineage, and editing it again."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import RedirectResponse, StreamingResponse

from imagebatch.api.bodies import EditIn, EditManyIn
from imagebatch.api.deps import AppDep, CurrentUser, ObjectId
from imagebatch.api.errors import responses
from imagebatch.api.headers import IMAGE_CSP
from imagebatch.api.submit import Submitter
from imagebatch.api.views import BatchCreated, ImageOut
from imagebatch.app import App
from imagebatch.domain.accounts import User
from imagebatch.domain.disposition import disposition
from imagebatch.domain.filenames import extension_for
from imagebatch.domain.records import Image
from imagebatch.engine.library import THUMBNAIL_MIME
from imagebatch.errors import NotFound
from imagebatch.imaging.sniff import HEAD_BYTES, image_mime

router = APIRouter(prefix="/api/images", tags=["images"])

#: images are stored by content: the bytes behind an id never change
IMMUTABLE = "private, max-age=31536000, immutable"
MAX_LINEAGE = 50


async def visible_image(app: App, user: User, image_id: ObjectId) -> Image:
    """The image as `user` knows it (its name, kind and parent are theirs, never those of
    another user who stored the same bytes); an admin sees the row as stored."""
    if user.is_admin:
        return await app.images.get(image_id)
    return await app.images.visible(user.owner, image_id)


def download_name(image: Image) -> str:
    stem = image.original_name or f"image-{image.id}"
    return stem if "." in stem[-5:] else f"{stem}{extension_for(image.mime)}"


def _cached(request: Request, etag: str) -> bool:
    return request.headers.get("if-none-match") == etag


@router.get("/{image_id}", responses=responses(401, 404))
async def get_image(image_id: ObjectId, user: CurrentUser, app: AppDep) -> ImageOut:
    return ImageOut.of(await visible_image(app, user, image_id))


@router.get(
    "/{image_id}/file",
    response_class=Response,
    responses={
        200: {"content": {"image/*": {}}},
        307: {"description": "presigned object-storage URL (IMAGEBATCH_S3_PRESIGNED_DOWNLOADS)"},
        **responses(401, 404),
    },
)
async def image_file(
    image_id: ObjectId, request: Request, user: CurrentUser, app: AppDep, download: bool = False
) -> Response:
    image = await visible_image(app, user, image_id)
    etag = f'"{image.sha256}"'
    headers = {"Cache-Control": IMMUTABLE, "ETag": etag, "Content-Security-Policy": IMAGE_CSP}
    if _cached(request, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    name = download_name(image)
    presigned = app.blobs.presigned_url(image.storage_key, name if download else None)
    if presigned is not None:  # object storage serves it; this server only said where
        return RedirectResponse(presigned, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    head, chunks = await _peek(app.blobs.open_chunks(image.storage_key), HEAD_BYTES)
    # The type of the bytes stored, never the one recorded: what is not an image we make is
    # only ever saved, as opaque bytes, never shown.
    mime = image_mime(head)
    headers["Content-Disposition"] = disposition(name, inline=mime is not None and not download)
    headers["Content-Length"] = str(image.bytes)
    return StreamingResponse(chunks, media_type=mime or "application/octet-stream", headers=headers)


async def _peek(chunks: AsyncIterator[bytes], size: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `size` bytes of a stream (fewer if it is shorter), and the whole stream."""
    read: list[bytes] = []
    async for chunk in chunks:  # leaving the loop early leaves the stream open, to go on
        read.append(chunk)
        if sum(map(len, read)) >= size:
            break

    async def whole() -> AsyncIterator[bytes]:
        for chunk in read:
            yield chunk
        async for chunk in chunks:
            yield chunk

    return b"".join(read)[:size], whole()


@router.get(
    "/{image_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {THUMBNAIL_MIME: {}}}, **responses(401, 404)},
)
async def thumbnail(
    image_id: ObjectId, request: Request, user: CurrentUser, app: AppDep
) -> Response:
    """A WebP at most 256 px on its long side, made on first request."""
    image = await visible_image(app, user, image_id)
    etag = f'"t-{image.sha256}"'
    headers = {"Cache-Control": IMMUTABLE, "ETag": etag, "Content-Security-Policy": IMAGE_CSP}
    if _cached(request, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(await app.library.thumbnail(image), media_type=THUMBNAIL_MIME, headers=headers)


@router.get("/{image_id}/lineage", responses=responses(401, 404))
async def lineage(image_id: ObjectId, user: CurrentUser, app: AppDep) -> list[ImageOut]:
    """The image and what it was made from, newest first (each edit's input, in turn)."""
    chain = [await visible_image(app, user, image_id)]
    while chain[-1].parent_image_id and len(chain) < MAX_LINEAGE:
        try:  # each step as the user knows it, and only as far as they may see
            chain.append(await visible_image(app, user, chain[-1].parent_image_id))
        except NotFound:
            break
    return [ImageOut.of(image) for image in chain]


@router.post(
    "/edit",
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 402, 403, 404, 422),
)
async def edit_images(
    body: EditManyIn, user: CurrentUser, app: AppDep, dry_run: bool = False
) -> BatchCreated:
    """Edit several images with one new prompt: one new batch with a task (or `count`) per
    image, each output's lineage leading to its input; priced and checked as any batch.
    `?dry_run=1` only validates and estimates. An image you cannot see: 404."""
    submitter = await Submitter.for_user(app, user)
    return await submitter.edit_many(body.image_ids, body, dry_run)


@router.post(
    "/{image_id}/edit",
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 402, 403, 404, 422),
)
async def edit_image(
    image_id: ObjectId, body: EditIn, user: CurrentUser, app: AppDep
) -> BatchCreated:
    """Edit a result again with a new prompt: a new batch whose task takes this image as
    input. The result keeps its lineage (parent_image_id); both images stay."""
    return await (await Submitter.for_user(app, user)).edit(image_id, body)
