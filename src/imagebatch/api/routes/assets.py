"""/api/assets: your library of reference images, usable in rows as "asset:<id>"."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel

from imagebatch.api.deps import AppDep, CurrentUser, ObjectId
from imagebatch.api.errors import IssueOut, responses
from imagebatch.api.routes.images import visible_image
from imagebatch.api.uploads import FILES, multipart_body, read_multipart
from imagebatch.api.views import ImageOut
from imagebatch.errors import InputError, InputIssue
from imagebatch.store.assets import Asset

router = APIRouter(prefix="/api/assets", tags=["assets"])

UPLOAD_BODY = multipart_body({"files": FILES})


class AssetOut(BaseModel):
    id: int
    name: str
    #: how rows refer to it
    reference: str
    created_at: datetime
    image: ImageOut

    @classmethod
    def of(cls, asset: Asset) -> AssetOut:
        return cls(
            id=asset.id,
            name=asset.name,
            reference=f"asset:{asset.id}",
            created_at=asset.created_at,
            image=ImageOut.in_library(asset.image, asset.name),
        )


class AssetsAdded(BaseModel):
    added: list[AssetOut]
    skipped: list[IssueOut]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
    responses=responses(401, 403, 413, 422),
)
async def add_assets(request: Request, user: CurrentUser, app: AppDep) -> AssetsAdded:
    """Upload images (field `files`) into your library; unusable files are listed, not added."""
    runtime = await app.runtime_settings.current()
    form = await read_multipart(
        request, max_files=runtime.max_upload_files, max_bytes=runtime.max_image_bytes
    )
    try:
        uploads = [file for files in form.files.values() for file in files]
        if not uploads and not form.oversize:
            raise InputError(
                InputIssue("files", "no files uploaded", "add image files", "no_images")
            )
        ingestor = app.ingestor.fresh(max_bytes=runtime.max_image_bytes)
        added: list[AssetOut] = []
        skipped = form.oversize
        for upload in uploads:  # one at a time in memory, decoded in a worker thread
            try:
                image = await ingestor.image_from_bytes(await upload.read(), upload.basename)
            except InputError as error:
                issue = error.issues[0]
                skipped.append(IssueOut.as_given(replace(issue, where=upload.basename)))
                continue
            asset = await app.assets.add(user.owner, image.id, upload.basename, app.clock())
            added.append(AssetOut.of(asset))
        return AssetsAdded(added=added, skipped=skipped)
    finally:
        form.close()


@router.post(
    "/from-image/{image_id}",
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 403, 404),
)
async def asset_from_image(image_id: ObjectId, user: CurrentUser, app: AppDep) -> AssetOut:
    """Keep a result (or any image you can see) in your library."""
    image = await visible_image(app, user, image_id)
    name = image.original_name or f"image-{image.id}"
    return AssetOut.of(await app.assets.add(user.owner, image.id, name, app.clock()))


@router.get("", responses=responses(401))
async def list_assets(
    user: CurrentUser,
    app: AppDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AssetOut]:
    return [AssetOut.of(a) for a in await app.assets.library(user.owner, limit, offset)]


@router.delete(
    "/{asset_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404)
)
async def delete_asset(asset_id: ObjectId, user: CurrentUser, app: AppDep) -> None:
    await app.assets.delete(user.owner, asset_id)
