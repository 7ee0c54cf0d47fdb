"""/api/images: an image's details, bytes, thumbnail, lineage, and editing it again."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response, status

from imagebatch.api.bodies import EditIn
from imagebatch.api.deps import AppDep, CurrentUser, ObjectId
from imagebatch.api.errors import responses
from imagebatch.api.submit import Submitter
from imagebatch.api.views import BatchCreated, ImageOut
from imagebatch.app import App
from imagebatch.domain.accounts import User
from imagebatch.domain.filenames import extension_for
from imagebatch.domain.records import Image
from imagebatch.engine.library import THUMBNAIL_MIME
from imagebatch.errors import NotFound

router = APIRouter(prefix="/api/images", tags=["images"])

#: images are stored by content: the bytes behind an id never change
IMMUTABLE = "private, max-age=31536000, immutable"
MAX_LINEAGE = 50


async def visible_image(app: App, user: User, image_id: ObjectId) -> Image:
    if not user.is_admin and not await app.assets.can_see(user.name, image_id):
        raise NotFound(f"no image {image_id}")
    return await app.images.get(image_id)


def download_name(image: Image) -> str:
    stem = image.original_name or f"image-{image.id}"
    return stem if "." in stem[-5:] else f"{stem}{extension_for(image.mime)}"


def disposition(name: str, inline: bool) -> str:
    kind = "inline" if inline else "attachment"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _cached(request: Request, etag: str) -> bool:
    return request.headers.get("if-none-match") == etag


@router.get("/{image_id}", responses=responses(401, 404))
async def get_image(image_id: ObjectId, user: CurrentUser, app: AppDep) -> ImageOut:
    return ImageOut.of(await visible_image(app, user, image_id))


@router.get(
    "/{image_id}/file",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}, **responses(401, 404)},
)
async def image_file(
    image_id: ObjectId, request: Request, user: CurrentUser, app: AppDep, download: bool = False
) -> Response:
    image = await visible_image(app, user, image_id)
    etag = f'"{image.sha256}"'
    headers = {"Cache-Control": IMMUTABLE, "ETag": etag}
    if _cached(request, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    headers["Content-Disposition"] = disposition(download_name(image), inline=not download)
    data = await app.blobs.get(image.storage_key)
    return Response(data, media_type=image.mime, headers=headers)


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
    headers = {"Cache-Control": IMMUTABLE, "ETag": etag}
    if _cached(request, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(await app.library.thumbnail(image), media_type=THUMBNAIL_MIME, headers=headers)


@router.get("/{image_id}/lineage", responses=responses(401, 404))
async def lineage(image_id: ObjectId, user: CurrentUser, app: AppDep) -> list[ImageOut]:
    """The image and what it was made from, newest first (each edit's input, in turn)."""
    chain = [await visible_image(app, user, image_id)]
    while chain[-1].parent_image_id and len(chain) < MAX_LINEAGE:
        parent = await app.images.get(chain[-1].parent_image_id)
        chain.append(parent)
    return [ImageOut.of(image) for image in chain]


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
