"""/api/batches and /api/tasks: create, list, inspect and steer batches."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from imagebatch.api.bodies import JSON_ONLY, WITH_FILES, BatchIn, TaskIdsIn
from imagebatch.api.deps import (
    AppDep,
    CurrentUser,
    Cursor,
    ObjectId,
    OwnedBatch,
    OwnedTask,
    owned,
)
from imagebatch.api.errors import responses
from imagebatch.api.snapshots import Snapshots
from imagebatch.api.submit import Submitter
from imagebatch.api.uploads import (
    FILE,
    FILES,
    Uploaded,
    form_values,
    multipart_body,
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
from imagebatch.domain.events import EventKind
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.engine.events import Event
from imagebatch.errors import InputError, InputIssue, TooLarge

router = APIRouter(tags=["batches"])

#: the JSON body's fields a multipart body takes beside its files
FORM_FIELDS = [name for name in BatchIn.model_fields if name not in JSON_ONLY]
_SCHEMA = BatchIn.model_json_schema(ref_template="#/components/schemas/{model}")["properties"]
#: sent as JSON text in a form field (OpenAPI's default encoding of an object in multipart)
JSON_FIELDS = frozenset(name for name in FORM_FIELDS if _SCHEMA[name].get("type") == "object")
CREATE_BODY = multipart_body(
    {
        "images": FILES,
        "table": FILE,
        "references": FILES,
        **{name: _SCHEMA[name] for name in FORM_FIELDS},
    },
    json_model="BatchIn",
)


class Retried(BaseModel):
    retried: int
    batch: BatchOut


class TasksRetried(BaseModel):
    retried: int


M = TypeVar("M", bound=BaseModel)


def validated(
    model: type[M], data: bytes | dict[str, Any], context: dict[str, Any] | None = None
) -> M:
    """A body read by hand, validated with the same 422 answer FastAPI gives its own."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data, context=context)
        return model.model_validate(data, context=context)
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        raise RequestValidationError(errors) from None


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
        try:
            return await _from_form(submitter, form, dry_run)
        finally:
            form.close()
    if kind != "application/json":
        raise InputError(
            InputIssue(
                "Content-Type",
                f"{kind or 'none'} is not accepted",
                "send JSON or multipart",
                "content_type",
                {"type": kind or "none"},
            )
        )
    body = validated(BatchIn, await request.body())
    return await submitter.from_json(body, dry_run)


async def _from_form(submitter: Submitter, form: Uploaded, dry_run: bool) -> BatchCreated:
    """The form's fields are validated as the JSON body is, by BatchIn: the files are its
    input, images to edit with one prompt, or a table with its references."""
    values = form_values(form.fields, JSON_FIELDS)
    body = validated(BatchIn, values, context={WITH_FILES: True})
    if "table" in form.refused:
        big = form.refused["table"][0]
        raise TooLarge(
            f"the table {big.where} {big.problem}: split it into smaller tables",
            code="table_too_large",
            params=big.params,
        )
    if "table" in form.files:
        table, references = form.files["table"][0], form.files.get("references", [])
        refused = form.refused.get("references", [])
        return await submitter.from_table(body, table, references, dry_run, refused)
    images = form.files.get("images", [])
    return await submitter.from_images(
        body, body.prompt, body.count, images, dry_run, form.refused.get("images", [])
    )


@router.get("/api/batches", responses=responses(401))
async def list_batches(
    user: CurrentUser,
    app: AppDep,
    status: BatchStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Page[BatchOut]:
    """Your batches, newest first."""
    found = await app.batches.page(user.owner, status, cursor, limit)
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page(items=[BatchOut.of(b) for b in found], next_cursor=next_cursor)


@router.get("/api/batches/{batch_id}", response_model=BatchOut, responses=responses(401, 404))
async def get_batch(batch_id: ObjectId, request: Request, user: CurrentUser) -> Response:
    snapshots: Snapshots = request.app.state.snapshots
    batch, data = await snapshots.batch(batch_id)
    owned(batch, user, f"no batch {batch_id}")
    return Response(data, media_type="application/json")


@router.get(
    "/api/batches/{batch_id}/tasks", response_model=Page[TaskOut], responses=responses(401, 404)
)
async def list_tasks(
    batch: OwnedBatch,
    app: AppDep,
    status: TaskStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
) -> Response:
    """A batch's tasks in order, `limit` at a time: pass next_cursor to continue."""
    found = await app.tasks.page_columns(batch.id, status, after_id=cursor or 0, limit=limit)
    next_cursor = str(found[-1]["id"]) if len(found) == limit else None
    # Serialised once, here: pages are polled often, and FastAPI would validate them again.
    return Response(task_page_json(found, next_cursor), media_type="application/json")


@router.delete(
    "/api/batches/{batch_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401, 403, 404, 409),
)
async def delete_batch(batch: OwnedBatch, app: AppDep) -> None:
    """Delete a finished or cancelled batch: its tasks, and its images (uploads and outputs)
    with their files unless something else uses them (another task, your library, another
    record, an image made from them). Credit ledger lines stay, without the batch's id.
    A queued, running or paused batch: 409, cancel it first. Admins may delete any batch."""
    await app.library.delete_batch(batch.id)
    # live streams of the batch end; snapshots read it again and find it gone
    app.events.publish(Event(EventKind.DELETED, batch_id=batch.id, status="deleted"))


@router.post("/api/batches/{batch_id}/cancel", responses=responses(401, 403, 404, 409))
async def cancel_batch(batch: OwnedBatch, app: AppDep) -> BatchOut:
    return BatchOut.of(await app.service.cancel(batch.id))


@router.post("/api/batches/{batch_id}/pause", responses=responses(401, 403, 404, 409))
async def pause_batch(batch: OwnedBatch, app: AppDep) -> BatchOut:
    return BatchOut.of(await app.service.pause(batch.id))


@router.post("/api/batches/{batch_id}/resume", responses=responses(401, 403, 404, 409))
async def resume_batch(batch: OwnedBatch, app: AppDep) -> BatchOut:
    return BatchOut.of(await app.service.resume(batch.id))


@router.post("/api/batches/{batch_id}/retry", responses=responses(401, 402, 403, 404, 409))
async def retry_batch(batch: OwnedBatch, app: AppDep) -> Retried:
    """Send every failed task back to the queue (their credits are reserved again)."""
    count = await app.service.retry_failed(batch.id)
    return Retried(retried=count, batch=BatchOut.of(await app.batches.get(batch.id)))


@router.get("/api/batches/{batch_id}/webhooks", responses=responses(401, 404))
async def webhook_log(batch: OwnedBatch, app: AppDep) -> list[DeliveryOut]:
    """Webhook deliveries of this batch: status, attempts, the receiver's last answer."""
    return [DeliveryOut.of(d) for d in await app.webhooks.for_batch(batch.id)]


@router.get("/api/tasks/{task_id}", responses=responses(401, 404))
async def get_task(task: OwnedTask, app: AppDep) -> TaskOut:
    out = TaskOut.of(task)
    if out.output_image_id is not None:  # its size, as a page of tasks gives it
        output = await app.images.get(out.output_image_id)
        out.width, out.height = output.width, output.height
    return out


@router.post("/api/tasks/retry", responses=responses(401, 402, 403, 404, 409, 422))
async def retry_tasks(body: TaskIdsIn, user: CurrentUser, app: AppDep) -> TasksRetried:
    """Send several failed tasks back to the queue, their credits reserved together: all of
    them, or none (402 if your balance cannot cover them all, 409 naming those not failed,
    404 if one is not yours)."""
    owner = None if user.is_admin else user.owner
    return TasksRetried(retried=await app.service.retry_tasks(body.task_ids, owner))


@router.post("/api/tasks/{task_id}/retry", responses=responses(401, 402, 403, 404, 409))
async def retry_task(task: OwnedTask, app: AppDep) -> TaskOut:
    return TaskOut.of(await app.service.retry_task(task.id))
