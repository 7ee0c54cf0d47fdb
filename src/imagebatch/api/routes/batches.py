"""/api/batches and /api/tasks: create, list, inspect and steer batches."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from imagebatch.api.bodies import BatchIn, BatchOptions
from imagebatch.api.deps import AppDep, CurrentUser, Cursor, ObjectId
from imagebatch.api.errors import responses
from imagebatch.api.snapshots import Snapshots
from imagebatch.api.submit import Submitter
from imagebatch.api.uploads import (
    FILE,
    FILES,
    multipart_body,
    options_from_fields,
    read_multipart,
)
from imagebatch.api.views import (
    BatchCreated,
    BatchOut,
    DeliveryOut,
    Page,
    TaskOut,
    task_page_json,
)
from imagebatch.app import App
from imagebatch.domain.accounts import User
from imagebatch.domain.records import Batch, Task
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.errors import InputError, InputIssue, NotFound

router = APIRouter(tags=["batches"])

MULTIPART_FIELDS = {
    "images": FILES,
    "table": FILE,
    "references": FILES,
    "prompt": {"type": "string"},
    "count": {"type": "integer", "minimum": 1, "maximum": 10},
    **{name: {"type": "string"} for name in BatchOptions.model_fields},
}
CREATE_BODY = multipart_body(MULTIPART_FIELDS, json_model="BatchIn")


class Retried(BaseModel):
    retried: int
    batch: BatchOut


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: bytes | dict[str, Any]) -> M:
    """A body read by hand, validated with the same 422 answer FastAPI gives its own."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None


async def owned_batch(app: App, user: User, batch_id: ObjectId) -> Batch:
    batch = await app.batches.get(batch_id)
    if batch.owner != user.name and not user.is_admin:
        raise NotFound(f"no batch {batch_id}")
    return batch


async def owned_task(app: App, user: User, task_id: ObjectId) -> Task:
    task = await app.tasks.get(task_id)
    if task.owner != user.name and not user.is_admin:
        raise NotFound(f"no task {task_id}")
    return task


@router.post(
    "/api/batches",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=CREATE_BODY,
    responses=responses(401, 402, 403, 404, 413, 422),
)
async def create_batch(
    request: Request, user: CurrentUser, app: AppDep, dry_run: bool = False
) -> BatchCreated:
    """Create a batch from JSON (a prompt template, or rows) or multipart: images to edit
    with one prompt, or a CSV/XLSX/JSONL table with its reference images. `?dry_run=1`
    only validates and estimates."""
    submitter = await Submitter.for_user(app, user)
    runtime = submitter.runtime
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await read_multipart(
            request, max_files=runtime.max_upload_files, max_bytes=runtime.max_image_bytes
        )
        values = options_from_fields(form.fields)
        prompt, count = values.pop("prompt", None), int(values.pop("count", 1) or 1)
        options = validated(BatchOptions, values)
        if "table" in form.files:
            created = await submitter.from_table(
                options, form.files["table"][0], form.files.get("references", []), dry_run
            )
        else:
            created = await submitter.from_images(
                options, prompt, count, form.files.get("images", []), dry_run
            )
        created.skipped[:0] = form.oversize
        return created
    if kind != "application/json":
        raise InputError(
            InputIssue(
                "Content-Type", f"{kind or 'none'} is not accepted", "send JSON or multipart"
            )
        )
    body = validated(BatchIn, await request.body())
    return await submitter.from_json(body, dry_run)


@router.get("/api/batches", responses=responses(401))
async def list_batches(
    user: CurrentUser,
    app: AppDep,
    status: BatchStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Page[BatchOut]:
    """Your batches, newest first."""
    found = await app.batches.page(user.name, status, cursor, limit)
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page(items=[BatchOut.of(b) for b in found], next_cursor=next_cursor)


@router.get("/api/batches/{batch_id}", response_model=BatchOut, responses=responses(401, 404))
async def get_batch(batch_id: ObjectId, request: Request, user: CurrentUser) -> Response:
    snapshots: Snapshots = request.app.state.snapshots
    batch, data = await snapshots.batch(batch_id)
    if batch.owner != user.name and not user.is_admin:
        raise NotFound(f"no batch {batch_id}")
    return Response(data, media_type="application/json")


@router.get(
    "/api/batches/{batch_id}/tasks", response_model=Page[TaskOut], responses=responses(401, 404)
)
async def list_tasks(
    batch_id: ObjectId,
    user: CurrentUser,
    app: AppDep,
    status: TaskStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
) -> Response:
    """A batch's tasks in order, `limit` at a time: pass next_cursor to continue."""
    await owned_batch(app, user, batch_id)
    found = await app.tasks.page_columns(batch_id, status, after_id=cursor or 0, limit=limit)
    next_cursor = str(found[-1]["id"]) if len(found) == limit else None
    # Serialised once, here: pages are polled often, and FastAPI would validate them again.
    return Response(task_page_json(found, next_cursor), media_type="application/json")


@router.post("/api/batches/{batch_id}/cancel", responses=responses(401, 403, 404, 409))
async def cancel_batch(batch_id: ObjectId, user: CurrentUser, app: AppDep) -> BatchOut:
    await owned_batch(app, user, batch_id)
    return BatchOut.of(await app.service.cancel(batch_id))


@router.post("/api/batches/{batch_id}/pause", responses=responses(401, 403, 404, 409))
async def pause_batch(batch_id: ObjectId, user: CurrentUser, app: AppDep) -> BatchOut:
    await owned_batch(app, user, batch_id)
    return BatchOut.of(await app.service.pause(batch_id))


@router.post("/api/batches/{batch_id}/resume", responses=responses(401, 403, 404, 409))
async def resume_batch(batch_id: ObjectId, user: CurrentUser, app: AppDep) -> BatchOut:
    await owned_batch(app, user, batch_id)
    return BatchOut.of(await app.service.resume(batch_id))


@router.post("/api/batches/{batch_id}/retry", responses=responses(401, 402, 403, 404, 409))
async def retry_batch(batch_id: ObjectId, user: CurrentUser, app: AppDep) -> Retried:
    """Send every failed task back to the queue (their credits are reserved again)."""
    await owned_batch(app, user, batch_id)
    count = await app.service.retry_failed(batch_id)
    return Retried(retried=count, batch=BatchOut.of(await app.batches.get(batch_id)))


@router.get("/api/batches/{batch_id}/webhooks", responses=responses(401, 404))
async def webhook_log(batch_id: ObjectId, user: CurrentUser, app: AppDep) -> list[DeliveryOut]:
    """Webhook deliveries of this batch: status, attempts, the receiver's last answer."""
    await owned_batch(app, user, batch_id)
    return [DeliveryOut.of(d) for d in await app.webhooks.for_batch(batch_id)]


@router.get("/api/tasks/{task_id}", responses=responses(401, 404))
async def get_task(task_id: ObjectId, user: CurrentUser, app: AppDep) -> TaskOut:
    return TaskOut.of(await owned_task(app, user, task_id))


@router.post("/api/tasks/{task_id}/retry", responses=responses(401, 402, 403, 404, 409))
async def retry_task(task_id: ObjectId, user: CurrentUser, app: AppDep) -> TaskOut:
    await owned_task(app, user, task_id)
    return TaskOut.of(await app.service.retry_task(task_id))
