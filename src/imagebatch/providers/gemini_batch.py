"""Gemini Batch Mode (economy mode): inline requests in one `batchGenerateContent` job.

Inline requests must stay under 20 MB together (`batch_limits`; the engine splits bigger
batches into several jobs). Each request carries our task key in its metadata and each
inlined response is matched to its task by that key, never by position. On the wire states
are `BATCH_STATE_*`; the SDK renames them `JOB_STATE_*`. Our marker is the job's display
name, so a job created just before a crash is found again. A response is judged like a normal
call's (blocked prompt, refused image, no image); an item error like the same HTTP error.
Why a whole job failed is the operation's `error`, which google-genai does not copy into its
BatchJob: for a failed job it is read from the raw operation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import httpx
from google.genai import errors, types

from imagebatch.errors import (
    AuthFailed,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from imagebatch.providers.base import (
    BatchLimits,
    JobState,
    JobStatus,
    ProviderRequest,
    ProviderResult,
    SubmittedJob,
)
from imagebatch.providers.gemini import GeminiProvider, config_of, contents_of, result_of
from imagebatch.providers.keys import key_ref
from imagebatch.providers.transport import network_errors

#: inline requests may take 20 MB in all; the margin covers the JSON around them
LIMITS = BatchLimits(max_requests=10_000, max_bytes=19 * 1024 * 1024)
FIND_DEPTH = 1000
STATES: dict[str, JobStatus] = {
    "JOB_STATE_PENDING": "pending",
    "JOB_STATE_QUEUED": "pending",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}

T = TypeVar("T")


class GeminiBatchProvider(GeminiProvider):
    """The Gemini provider, plus Batch Mode jobs at half price."""

    def __init__(self, *args: Any, batch_discount: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_discount = batch_discount

    def batch_limits(self, model: str) -> BatchLimits:
        return LIMITS

    async def submit_batch(
        self, items: Sequence[tuple[str, ProviderRequest]], marker: str
    ) -> SubmittedJob:
        models = {request.model for _, request in items}
        if len(models) != 1:
            raise InvalidRequest("gemini: one batch job runs one model")
        inlined = [
            types.InlinedRequest(
                contents=[contents_of(request)], config=config_of(request), metadata={"key": key}
            )
            for key, request in items
        ]
        async with self.keys.lease() as key:
            job = await self._call(
                key,
                self._client(key).aio.batches.create(
                    model=models.pop(),
                    src=types.BatchJobSource(inlined_requests=inlined),
                    config=types.CreateBatchJobConfig(display_name=marker),
                ),
            )
        if not job.name:
            raise ProviderUnavailable("gemini: the batch job came back without a name")
        return SubmittedJob(job.name, key_ref(key))

    async def find_batch(self, marker: str) -> SubmittedJob | None:
        for key in self.keys.all_keys():
            name = await self._call(key, self._find(key, marker))
            if name is not None:
                return SubmittedJob(name, key_ref(key))
        return None

    async def _find(self, key: str, marker: str) -> str | None:
        seen = 0
        pager = await self._client(key).aio.batches.list(config={"page_size": 100})
        async for job in pager:
            if job.display_name == marker:
                return job.name
            seen += 1
            if seen >= FIND_DEPTH:
                break
        return None

    async def poll_batch(self, job: SubmittedJob) -> JobState:
        key = self.keys.by_ref(job.key_ref)
        found = await self._call(key, self._client(key).aio.batches.get(name=job.external_id))
        state = str(getattr(found.state, "value", found.state))
        status = STATES.get(state)
        if status is None:
            raise ProviderUnavailable(f"gemini: unknown batch state {state!r}")
        responses = found.dest.inlined_responses if found.dest else None
        results = dict(_outcome(item) for item in responses or [] if _key(item))
        message = found.error.message if found.error else None
        if status == "failed" and message is None:
            message = await self._failure_reason(key, job.external_id)
        return JobState(status, results, message)

    async def _failure_reason(self, key: str, name: str) -> str | None:
        """The failed job's reason from its raw operation; None if that cannot be had (the job
        failed all the same: a missing reason must not keep it from being settled)."""
        url = f"{self._base_url.rstrip('/')}/v1beta/{name}"
        try:
            with network_errors("gemini"):
                async with httpx.AsyncClient(timeout=self._timeout) as http:
                    response = await http.get(url, headers={"x-goog-api-key": key})
            found = response.json().get("error")
        except (ProviderError, ValueError, AttributeError):
            return None
        if not isinstance(found, dict) or not found.get("message"):
            return None
        return f"gemini batch job failed (code {found.get('code')}): {found['message']}"

    async def cancel_batch(self, job: SubmittedJob) -> None:
        key = self.keys.by_ref(job.key_ref)
        await self._call(key, self._client(key).aio.batches.cancel(name=job.external_id))

    async def discard_batch(self, job: SubmittedJob) -> None:
        """Nothing to delete: requests and results travel inline, not as files."""

    async def _call(self, key: str, pending: Awaitable[T]) -> T:
        try:
            with network_errors("gemini"):
                return await pending
        except errors.APIError as error:
            raise self._translate(error, key) from None
        except ValueError as error:  # a 200 whose body is not the JSON it should be
            raise ProviderUnavailable(f"gemini: malformed response ({error})") from None


def _key(item: types.InlinedResponse) -> str | None:
    return (item.metadata or {}).get("key")


def _outcome(item: types.InlinedResponse) -> tuple[str, ProviderResult | ProviderError]:
    key = _key(item) or ""
    if item.error is not None or item.response is None:
        code = item.error.code if item.error and item.error.code else 500
        message = item.error.message if item.error else "no response"
        return key, item_error(code, f"gemini {code}: {message}")
    try:
        return key, result_of(item.response)
    except ProviderError as error:
        return key, error


#: google.rpc.Code values onto the HTTP status they stand for: an item's error is a
#: google.rpc.Status, whose code may be either (captures show HTTP codes; the proto says gRPC)
GRPC_TO_HTTP = {
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    13: 500,
    14: 503,
    16: 401,
}


def item_error(code: int, message: str) -> ProviderError:
    """A failed batch item like the same HTTP error of a normal call."""
    code = GRPC_TO_HTTP.get(code, code)
    if code == 429:
        return RateLimited(message)
    if code in (401, 403):
        return AuthFailed(message)
    if code >= 500 or code in (408, 409):
        return ProviderUnavailable(message)
    return InvalidRequest(message)
