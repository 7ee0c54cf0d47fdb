"""What the API answers with: response models, and how stored entities become them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    computed_field,
)

from imagebatch.api.errors import IssueOut
from imagebatch.domain.accounts import ApiToken, User
from imagebatch.domain.credits import from_micros
from imagebatch.domain.filenames import extension_for
from imagebatch.domain.pricing import Estimate
from imagebatch.domain.records import Batch, Image, Task
from imagebatch.store.history import HistoryEntry
from imagebatch.store.images import made_by
from imagebatch.store.presets import Preset
from imagebatch.store.rows import task_columns
from imagebatch.store.webhooks import Delivery

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    #: pass as ?cursor= to get the next page; null on the last page
    next_cursor: str | None = None


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    disabled: bool
    credits: float
    created_at: datetime
    last_login_at: datetime | None = None
    webhook_url: str | None = None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            name=user.name,
            role=user.role.value,
            disabled=user.disabled,
            credits=from_micros(user.balance),
            created_at=user.created_at,
            last_login_at=user.last_login_at,
            webhook_url=user.webhook_url,
        )


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls.model_validate(token, from_attributes=True)


class TokenCreated(TokenOut):
    #: shown once: store it now
    token: str


class BatchOut(BaseModel):
    id: int
    #: in English when the service named it; pages rebuild such a name from `name_code`
    name: str
    #: set when the service named the batch ("images", "rows", "edit_of_image"); null: the
    #: user's own name. `name_params` holds its numbers ({"n": 13}, {"id": 3})
    name_code: str | None = None
    name_params: dict[str, Any] | None = None
    owner: str
    mode: str
    provider: str
    model: str
    status: str
    total: int
    succeeded: int
    failed: int
    cancelled: int
    done: int
    priority: int
    #: always empty: options are each task's (kept for clients that read it)
    params: dict[str, Any] = Field(default_factory=dict)
    economy: bool
    webhook_url: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, batch: Batch) -> BatchOut:
        out = cls.model_validate(batch, from_attributes=True)
        # people read the account's name, never its key "user:<id>"; a CLI run keeps "local:…"
        out.owner = batch.owner_name or batch.owner
        return out


class TaskOut(BaseModel):
    id: int
    batch_id: int
    seq: int
    status: str
    prompt: str
    #: the prompt as the user wrote it, before a preset's text went in front; null: `prompt`
    user_prompt: str | None = None
    negative_prompt: str | None
    aspect_ratio: str | None
    resolution: str | None
    seed: int | None
    #: the seed the provider really used (the user's, or one derived for a model that takes
    #: one); set when the output is stored
    seed_used: int | None
    variant: int
    params: dict[str, Any]
    provider: str
    model: str
    output_filename: str
    source: str | None
    attempts: int
    max_attempts: int
    error_kind: str | None
    error_message: str | None
    input_image_id: int | None
    reference_image_ids: list[int]
    output_image_id: int | None
    #: the output's size in pixels (null until it succeeded), to lay out cards before loading
    width: int | None = None
    height: int | None = None
    reused: bool
    #: what the task costs (the record's price, kept in micro-credits)
    credits: Annotated[float, BeforeValidator(from_micros), Field(validation_alias="price")] = 0.0
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def input_name(self) -> str | None:
        """The file name of the image this task edits, as the user gave it (null: none)."""
        return self.source if self.input_image_id is not None else None

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        # the same shape as a page of rows (task_page_json): one mapping of a task to fields
        return cls.model_validate(task_columns(task))


_TASKS = TypeAdapter(list[TaskOut])


def task_page_json(columns: list[dict[str, Any]], next_cursor: str | None) -> str:
    """A page of tasks from their rows' column values (TaskRepo.page_columns): all rows
    validated in one call, without a Task record each, as pages are polled often."""
    items = _TASKS.validate_python(columns)
    return Page[TaskOut].model_construct(items=items, next_cursor=next_cursor).model_dump_json()


class ImageOut(BaseModel):
    id: int
    sha256: str
    mime: str
    width: int
    height: int
    bytes: int
    kind: str
    original_name: str | None
    #: lineage: the image this one was made from
    parent_image_id: int | None

    @classmethod
    def of(cls, image: Image) -> ImageOut:
        """The image as given: pass it as its viewer knows it (store.images.seen_by)."""
        return cls.model_validate(image, from_attributes=True)

    @classmethod
    def in_library(cls, image: Image, name: str) -> ImageOut:
        """A library image, named as its owner named it; where it came from is the lineage
        endpoint's to say (the row's own name and parent may be another user's)."""
        return cls.of(image).model_copy(
            update={"kind": "input", "original_name": name, "parent_image_id": None}
        )


class EstimateLineOut(BaseModel):
    provider: str
    model: str
    images: int
    price_per_image: float
    #: share of the price saved by economy mode (the provider's batch discount)
    discount: float = 0.0
    cost: float


class EstimateOut(BaseModel):
    total: float
    reused: int
    #: what economy mode saves against the normal price (0 without it)
    saving: float = 0.0
    lines: list[EstimateLineOut]

    @classmethod
    def of(cls, found: Estimate) -> EstimateOut:
        return cls(
            total=found.total,
            reused=found.reused,
            saving=found.saving,
            lines=[
                EstimateLineOut(
                    provider=line.provider,
                    model=line.model,
                    images=line.images,
                    price_per_image=line.price_per_image,
                    discount=line.discount,
                    cost=line.cost,
                )
                for line in found.lines
            ],
        )


class PlannedTaskOut(BaseModel):
    """One task a dry run would create, as `imagebatch run --dry-run --json` shows it too."""

    model_config = ConfigDict(extra="forbid")

    #: where it came from: "prompt 3", "row 7", the edited file's name
    source: str | None
    #: which of the copies (count) of that source it is, from 0
    variant: int
    prompt: str
    negative_prompt: str | None
    aspect_ratio: str | None
    resolution: str | None
    seed: int | None
    filename: str | None
    #: as the row or body names them
    reference_images: list[str]
    #: the row's own provider and model; null: the batch's
    provider: str | None
    model: str | None
    params: dict[str, str]


class BatchCreated(BaseModel):
    #: null for a dry run
    batch: BatchOut | None
    tasks: int
    estimate: EstimateOut
    #: the caller's credits before this batch
    credits: float
    #: input files left out (not an image, too large…); the rest of the batch went ahead
    skipped: list[IssueOut]
    dry_run: bool
    #: a dry run's tasks, with the batch options applied (empty otherwise)
    planned: list[PlannedTaskOut] = Field(default_factory=list)


class HistoryEntryOut(BaseModel):
    """A finished task in its owner's history: one of /api/records' records."""

    id: int
    batch_id: int
    batch_name: str = ""
    #: as BatchOut's: the batch's name as a code when the service named it
    batch_name_code: str | None = None
    batch_name_params: dict[str, Any] | None = None
    status: str
    prompt: str
    negative_prompt: str | None
    aspect_ratio: str | None
    resolution: str | None
    seed: int | None
    seed_used: int | None
    params: dict[str, Any]
    provider: str
    model: str
    #: the failure's category (the provider error's class: "ContentRejected", "RateLimited"…)
    error_kind: str | None = None
    error_message: str | None
    image: ImageOut | None = None
    #: what a gallery card needs at once (the output's, null for a failed task)
    image_id: int | None = None
    width: int | None = None
    height: int | None = None
    #: the output's name in a download (its filename and the format's extension)
    file_name: str | None = None
    #: the prompt as the user wrote it, before a preset's text went in front; null: `prompt`
    user_prompt: str | None = None
    input_image_id: int | None
    reference_image_ids: list[int]
    created_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, entry: HistoryEntry) -> HistoryEntryOut:
        out = cls.model_validate(task_columns(entry.task))
        out.batch_name = entry.batch_name
        out.batch_name_code = entry.batch_name_code
        out.batch_name_params = entry.batch_name_params
        if entry.image:
            # the output of this very task: its name and input, whoever stored the bytes first
            out.image = ImageOut.of(made_by(entry.image, entry.task))
            out.image_id, out.width, out.height = out.image.id, out.image.width, out.image.height
            out.file_name = entry.task.output_filename + extension_for(entry.image.mime)
        return out


class HistoryPage(BaseModel):
    items: list[HistoryEntryOut]
    total: int
    limit: int
    offset: int


class PresetOut(BaseModel):
    id: int
    title: str
    content: str
    category: str
    sort_order: int
    active: bool
    updated_at: datetime

    @classmethod
    def of(cls, preset: Preset) -> PresetOut:
        return cls.model_validate(preset, from_attributes=True)


class DeliveryOut(BaseModel):
    id: int
    batch_id: int
    url: str
    event: str
    status: str
    attempts: int
    response_status: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls.model_validate(delivery, from_attributes=True)
