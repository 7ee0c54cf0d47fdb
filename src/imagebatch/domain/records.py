"""Stored entities as the rest of the code sees them: immutable snapshots of rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from imagebatch.domain.requests import ImageRequest
from imagebatch.domain.specs import Mode
from imagebatch.domain.states import BatchStatus, TaskStatus


@dataclass(frozen=True, slots=True)
class Image:
    """An input or output image; bytes live in blob storage under storage_key."""

    id: int
    sha256: str
    mime: str
    width: int
    height: int
    bytes: int
    storage_key: str
    kind: str
    original_name: str | None = None
    parent_image_id: int | None = None
    thumbnail_key: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    name: str
    owner: str
    mode: Mode
    provider: str
    model: str
    status: BatchStatus
    total: int
    succeeded: int
    failed: int
    cancelled: int
    created_at: datetime
    priority: int = 0
    fingerprint: str | None = None
    out_dir: str | None = None
    webhook_url: str | None = None
    economy: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: the owning account's name, to show people (`owner` is a key, domain/owners.py); None
    #: for a CLI run, or where the query did not look it up
    owner_name: str | None = None
    #: set when the service named the batch (domain/batch_names.py): pages rebuild the name
    #: in their reader's language from it; None: the user's own name, shown as written
    name_code: str | None = None
    name_params: dict[str, Any] | None = None

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.cancelled


@dataclass(frozen=True, slots=True)
class Task:
    """One output image to make."""

    id: int
    batch_id: int
    owner: str
    provider: str
    model: str
    seq: int
    status: TaskStatus
    #: what to make; its images are stored images' ids
    request: ImageRequest[int]
    output_filename: str
    request_key: str
    attempts: int
    max_attempts: int
    #: the prompt as the user wrote it, before a preset's text went in front (None: the
    #: request's)
    user_prompt: str | None = None
    source: str | None = None
    priority: int = 0
    #: the seed the provider really used (the user's, one derived from the request, or one
    #: the provider narrowed to its range); None for models that take no seed
    seed_used: int | None = None
    error_kind: str | None = None
    error_message: str | None = None
    output_image_id: int | None = None
    reused: bool = False
    #: credits (micro-units) reserved for this task
    price: int = 0
    #: runs on its owner's own API key (BYOK)
    own_key: bool = False
    lease_owner: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task about to be stored: resolved inputs, final filename, request key."""

    seq: int
    #: what to make; its images are stored images' ids
    request: ImageRequest[int]
    output_filename: str
    request_key: str
    user_prompt: str | None = None
    source: str | None = None
    #: a row may name its own provider and model; None means the batch's
    provider: str | None = None
    model: str | None = None
    #: set when --reuse found an identical succeeded request: stored as already succeeded
    reuse_image_id: int | None = None
    #: credits (micro-units) to reserve for this task
    price: int = 0
    #: run on the owner's own API key (BYOK)
    own_key: bool = False


@dataclass(frozen=True, slots=True)
class NewBatch:
    name: str
    owner: str
    mode: Mode
    provider: str
    model: str
    max_attempts: int
    priority: int = 0
    fingerprint: str | None = None
    out_dir: str | None = None
    webhook_url: str | None = None
    economy: bool = False
    #: the service's own name for it, as a code (domain/batch_names.py); None: the user's
    name_code: str | None = None
    name_params: dict[str, Any] | None = None
