"""The one Protocol every image provider implements, and the optional one for providers that
run discounted batch jobs (economy mode)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol, runtime_checkable

from imagebatch.domain.capabilities import ProviderCapabilities
from imagebatch.domain.requests import ImageRequest
from imagebatch.domain.specs import Mode
from imagebatch.errors import ProviderError


@dataclass(frozen=True, slots=True)
class ImageBytes:
    """An image as bytes and its media type: what a provider sends (the image to edit, the
    references) and what it answers."""

    data: bytes
    mime: str


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    model: str
    #: what the user asked for; its images are the bytes to send (`asked.images`: the image
    #: to edit first, then the references). The seed is the one to send (maybe derived).
    asked: ImageRequest[ImageBytes]
    #: the task owner's own API key (BYOK), used instead of the server's keys
    api_key: str | None = field(default=None, repr=False)

    @property
    def mode(self) -> Mode:
        return self.asked.mode


@dataclass(frozen=True, slots=True)
class ProviderResult:
    images: tuple[ImageBytes, ...]
    request_id: str | None = None
    #: the seed the provider really used, when its model takes one (the request's, or one
    #: the adapter derived or clamped to the model's range): recorded with the task
    seed: int | None = None


class ImageProvider(Protocol):
    """An image API. `generate` raises only imagebatch.errors.ProviderError subclasses."""

    name: ClassVar[str]

    @property
    def capabilities(self) -> ProviderCapabilities: ...

    @property
    def configured(self) -> bool:
        """Whether it can be used here (keys and base URL set)."""

    async def generate(self, request: ProviderRequest) -> ProviderResult: ...

    async def aclose(self) -> None: ...


# --- Provider batch jobs ("economy mode") ---------------------------------------------------

#: a job's state as the engine sees it, whatever the provider calls it
JobStatus = Literal["pending", "running", "succeeded", "failed", "expired", "cancelled"]
TERMINAL_JOB_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "expired", "cancelled"})


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How much one provider batch job may hold."""

    max_requests: int
    #: the encoded size of all requests together (see `wire_size`)
    max_bytes: int


@dataclass(frozen=True, slots=True)
class SubmittedJob:
    external_id: str
    #: which of the provider's keys owns the job (a hash, never the key itself)
    key_ref: str


@dataclass(frozen=True, slots=True)
class JobState:
    status: JobStatus
    #: per request key: its image or its error, classified like a single call's; requests
    #: without an entry got no answer (the job expired, failed or was cancelled first)
    results: Mapping[str, ProviderResult | ProviderError] = field(default_factory=dict)
    #: why the whole job failed, in the provider's words
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


@runtime_checkable
class BatchJobs(Protocol):
    """A provider that runs many requests as one discounted, asynchronous batch job.

    Every method raises only ProviderError subclasses. `marker` is unique per job of ours
    and travels with the provider's job (OpenAI metadata, Gemini display name), so a job
    created just before a crash can be found again instead of being paid for twice."""

    #: share of the normal price saved (0.5: half price)
    batch_discount: float

    def batch_limits(self, model: str) -> BatchLimits: ...

    async def submit_batch(
        self, items: Sequence[tuple[str, ProviderRequest]], marker: str
    ) -> SubmittedJob: ...

    async def find_batch(self, marker: str) -> SubmittedJob | None: ...

    async def poll_batch(self, job: SubmittedJob) -> JobState: ...

    async def cancel_batch(self, job: SubmittedJob) -> None: ...

    async def discard_batch(self, job: SubmittedJob) -> None:
        """Delete what the provider keeps of a job whose results are recorded (files)."""
        ...


def wire_size(request: ProviderRequest) -> int:
    """About how many bytes a request takes inside a JSON batch: images travel as base64."""
    images = sum((len(image.data) + 2) // 3 * 4 for image in request.asked.images)
    return images + len(request.asked.prompt.encode()) + 1024


# --- Providers that spread work over several servers (a pool of ComfyUI GPUs) ---------------


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """One server of a provider's pool, as an admin sees it."""

    url: str
    #: False while benched: it refused connections and answers no probe yet
    up: bool
    #: our prompts on it now
    running: int
    #: its own queue (every client's prompts, running and pending); None when unknown
    queue_length: int | None
    last_error: str = ""


@runtime_checkable
class BackendStatuses(Protocol):
    """A provider whose calls go to one of several servers."""

    async def backend_statuses(self) -> Sequence[BackendStatus]: ...
