"""What the API answers with: response models, and how records become them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from imagebatch.domain.accounts import ApiToken, User
from imagebatch.domain.credits import from_micros
from imagebatch.domain.pricing import Estimate
from imagebatch.domain.records import Batch, Image, Task
from imagebatch.store.presets import Preset
from imagebatch.store.records import Record
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
        return cls(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class TokenCreated(TokenOut):
    #: shown once: store it now
    token: str


class BatchOut(BaseModel):
    id: int
    name: str
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
    params: dict[str, Any]
    economy: bool
    webhook_url: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, batch: Batch) -> BatchOut:
        return cls(
            id=batch.id,
            name=batch.name,
            owner=batch.owner,
            mode=batch.mode.value,
            provider=batch.provider,
            model=batch.model,
            status=batch.status.value,
            total=batch.total,
            succeeded=batch.succeeded,
            failed=batch.failed,
            cancelled=batch.cancelled,
            done=batch.done,
            priority=batch.priority,
            params=batch.params,
            economy=batch.economy,
            webhook_url=batch.webhook_url,
            created_at=batch.created_at,
            started_at=batch.started_at,
            finished_at=batch.finished_at,
        )


class TaskOut(BaseModel):
    id: int
    batch_id: int
    seq: int
    status: str
    prompt: str
    negative_prompt: str | None
    aspect_ratio: str | None
    resolution: str | None
    seed: int | None
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
    reused: bool
    credits: float
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            id=task.id,
            batch_id=task.batch_id,
            seq=task.seq,
            status=task.status.value,
            prompt=task.prompt,
            negative_prompt=task.negative_prompt,
            aspect_ratio=task.aspect_ratio.value if task.aspect_ratio else None,
            resolution=task.resolution.value if task.resolution else None,
            seed=task.seed,
            variant=task.variant,
            params=task.params,
            provider=task.provider,
            model=task.model,
            output_filename=task.output_filename,
            source=task.source,
            attempts=task.attempts,
            max_attempts=task.max_attempts,
            error_kind=task.error_kind,
            error_message=task.error_message,
            input_image_id=task.input_image_id,
            reference_image_ids=list(task.reference_image_ids),
            output_image_id=task.output_image_id,
            reused=task.reused,
            credits=from_micros(task.price),
            created_at=task.created_at,
            started_at=task.started_at,
            finished_at=task.finished_at,
        )


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
        return cls(
            id=image.id,
            sha256=image.sha256,
            mime=image.mime,
            width=image.width,
            height=image.height,
            bytes=image.bytes,
            kind=image.kind,
            original_name=image.original_name,
            parent_image_id=image.parent_image_id,
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


class SkippedOut(BaseModel):
    where: str
    problem: str
    hint: str = ""


class BatchCreated(BaseModel):
    #: null for a dry run
    batch: BatchOut | None
    tasks: int
    estimate: EstimateOut
    #: the caller's credits before this batch
    credits: float
    #: input files left out (not an image, too large…); the rest of the batch went ahead
    skipped: list[SkippedOut]
    dry_run: bool


class RecordOut(BaseModel):
    id: int
    batch_id: int
    batch_name: str
    status: str
    prompt: str
    negative_prompt: str | None
    aspect_ratio: str | None
    resolution: str | None
    seed: int | None
    params: dict[str, Any]
    provider: str
    model: str
    error_message: str | None
    image: ImageOut | None
    input_image_id: int | None
    reference_image_ids: list[int]
    finished_at: datetime | None

    @classmethod
    def of(cls, record: Record) -> RecordOut:
        task = record.task
        return cls(
            id=task.id,
            batch_id=task.batch_id,
            batch_name=record.batch_name,
            status=task.status.value,
            prompt=task.prompt,
            negative_prompt=task.negative_prompt,
            aspect_ratio=task.aspect_ratio.value if task.aspect_ratio else None,
            resolution=task.resolution.value if task.resolution else None,
            seed=task.seed,
            params=task.params,
            provider=task.provider,
            model=task.model,
            error_message=task.error_message,
            image=ImageOut.of(record.image) if record.image else None,
            input_image_id=task.input_image_id,
            reference_image_ids=list(task.reference_image_ids),
            finished_at=task.finished_at,
        )


class RecordsPage(BaseModel):
    items: list[RecordOut]
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
        return cls(
            id=preset.id,
            title=preset.title,
            content=preset.content,
            category=preset.category,
            sort_order=preset.sort_order,
            active=preset.active,
            updated_at=preset.updated_at,
        )


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
        return cls(
            id=delivery.id,
            batch_id=delivery.batch_id,
            url=delivery.url,
            event=delivery.event,
            status=delivery.status,
            attempts=delivery.attempts,
            response_status=delivery.response_status,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
        )
