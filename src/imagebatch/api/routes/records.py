"""/api/records: your history of finished images, searchable by prompt."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from imagebatch.api.deps import AppDep, CurrentUser, ObjectId
from imagebatch.api.errors import responses
from imagebatch.api.views import RecordOut, RecordsPage

router = APIRouter(prefix="/api/records", tags=["records"])


@router.get("", responses=responses(401))
async def search_records(
    user: CurrentUser,
    app: AppDep,
    search: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RecordsPage:
    """Finished tasks, newest first; `search` matches every word in the prompt."""
    found, total = await app.records.search(user.owner, search, limit, offset)
    return RecordsPage(
        items=[RecordOut.of(r) for r in found], total=total, limit=limit, offset=offset
    )


@router.delete(
    "/{record_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404)
)
async def delete_record(record_id: ObjectId, user: CurrentUser, app: AppDep) -> None:
    """Remove a record from your history; its file goes when nothing else uses it."""
    await app.library.delete_record(user.owner, record_id)
