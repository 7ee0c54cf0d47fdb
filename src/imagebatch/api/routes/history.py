"""/api/records: your history of finished images (its entries are the API's "records"),
searchable by prompt, filtered as a gallery filters it (batch, provider, status, days),
deleted one or many at a time."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from imagebatch.api.bodies import HistoryIdsIn
from imagebatch.api.deps import MAX_ID, AppDep, CurrentUser, ObjectId
from imagebatch.api.errors import responses
from imagebatch.api.views import HistoryEntryOut, HistoryPage
from imagebatch.errors import InputError, InputIssue
from imagebatch.store.history import HistoryFilter

router = APIRouter(prefix="/api/records", tags=["records"])


class HistoryDeleted(BaseModel):
    deleted: int


@router.get("", responses=responses(401, 422))
async def search_history(
    user: CurrentUser,
    app: AppDep,
    search: Annotated[str, Query(max_length=200)] = "",
    batch_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    provider: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    status: Literal["succeeded", "failed"] | None = None,
    since: Annotated[date | None, Query(description="first day (UTC), YYYY-MM-DD")] = None,
    until: Annotated[date | None, Query(description="last day (UTC), included")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HistoryPage:
    """Finished tasks, newest first; `search` matches every word in the prompt; the other
    filters narrow further (days count by when the task finished, both ends included)."""
    if since and until and since > until:
        raise InputError(
            InputIssue(
                "until",
                f"{until} is before since ({since})",
                "swap the two dates",
                "dates_reversed",
                {"since": str(since), "until": str(until)},
            )
        )
    narrowed = HistoryFilter(batch_id, provider, status, since, until)
    found, total = await app.history.search(user.owner, search, limit, offset, narrowed)
    return HistoryPage(
        items=[HistoryEntryOut.of(r) for r in found], total=total, limit=limit, offset=offset
    )


@router.post("/delete", responses=responses(401, 403, 404, 422))
async def delete_many_from_history(
    body: HistoryIdsIn, user: CurrentUser, app: AppDep
) -> HistoryDeleted:
    """Remove several records from your history, as DELETE /api/records/{id} does each:
    all of them, or none if one is unknown or not yours (404)."""
    return HistoryDeleted(deleted=await app.library.remove_many_from_history(user.owner, body.ids))


@router.delete(
    "/{record_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404)
)
async def delete_from_history(record_id: ObjectId, user: CurrentUser, app: AppDep) -> None:
    """Remove a record from your history; its file goes when nothing else uses it."""
    await app.library.remove_from_history(user.owner, record_id)
