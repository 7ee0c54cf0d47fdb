"""Gemini Batch Mode (economy mode): inline requests in one `batchGenerateContent` job.

Inline requests must stay under 20 MB together (`batch_limits`; the engine splits bigger
batches into several jobs). Each request carries our task key in its metadata and each
inlined response is matched to its task by that key, never by position. On the wire states
are `BATCH_STATE_*`; the SDK renames them `JOB_STATE_*`. Our marker is the job's display
name, so a job created just before a crash is found again. A response is judged like a normal
call's (blocked prompt, refused image, no image); an item error like the same HTTP error.
Why a whole job failed is the operation's `error`, which google-genai does not copy into its
BatchJob: for a failed job it is read from the raw operation.

The SDK is imported only here, and only once a batch job is touched: a plain run never pays
its import (0.4 s of CPU; single calls go over plain HTTP, gemini.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from imagebatch.domain.specs import Resolution
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
from imagebatch.providers.gemini import API_VERSION, GeminiProvider, result_of
from imagebatch.providers.keys import key_ref
from imagebatch.providers.transport import network_errors

if TYPE_CHECKING:
    from google import genai
    from google.genai import types

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
        self._clients: dict[str, genai.Client] = {}

    def batch_limits(self, model: str) -> BatchLimits:
        return LIMITS

    async def submit_batch(
        self, items: Sequence[tuple[str, ProviderRequest]], marker: str
    ) -> SubmittedJob:
        models = {request.model for _, request in items}
        if len(models) != 1:
            raise InvalidRequest("gemini: one batch job runs one model")
        from google.genai import types

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
        import httpx

        url = f"{self._base_url.rstrip('/')}/{API_VERSION}/{name}"
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

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aio.aclose()
        await super().aclose()

    def _client(self, key: str) -> genai.Client:
        if key not in self._clients:
            self._clients[key] = self._new_client(key)
        return self._clients[key]

    def _new_client(self, key: str) -> genai.Client:
        from google import genai
        from google.genai import types

        options = types.HttpOptions(
            base_url=self._base_url,
            api_version=API_VERSION,
            timeout=int(self._timeout * 1000),
            async_client_args={"transport": _own_transport()},
        )
        return genai.Client(api_key=key, http_options=options)

    async def _call(self, key: str, pending: Awaitable[T]) -> T:
        from google.genai import errors

        try:
            with network_errors("gemini"):
                return await pending
        except errors.APIError as error:
            raise self._failure(key, error.code, error.details, error.message or "") from None
        except ValueError as error:  # a 200 whose body is not the JSON it should be
            raise ProviderUnavailable(f"gemini: malformed response ({error})") from None


def _own_transport() -> Any:
    """google-genai switches to aiohttp whenever that is installed; a transport of our own
    keeps it on httpx2 (its default; httpx where that is missing), whose errors
    network_errors() translates and whose wire our fakes have been checked against."""
    try:
        import httpx2
    except ImportError:
        import httpx

        return httpx.AsyncHTTPTransport()
    return httpx2.AsyncHTTPTransport()


def contents_of(request: ProviderRequest) -> types.Content:
    from google.genai import types

    parts = [types.Part.from_text(text=request.asked.prompt)]
    parts += [
        types.Part.from_bytes(data=image.data, mime_type=image.mime)
        for image in request.asked.images
    ]
    return types.Content(role="user", parts=parts)


def config_of(request: ProviderRequest) -> types.GenerateContentConfig:
    from google.genai import types

    image = types.ImageConfig(
        aspect_ratio=request.asked.aspect_ratio.value if request.asked.aspect_ratio else None,
        # Only models with sizes get one; "1K" is the default and 2.5 Flash takes nothing else.
        image_size=request.asked.resolution.value
        if request.asked.resolution not in (None, Resolution.K1)
        else None,
    )
    return types.GenerateContentConfig(
        response_modalities=["IMAGE"], image_config=image, seed=request.asked.seed
    )


def _key(item: types.InlinedResponse) -> str | None:
    return (item.metadata or {}).get("key")


def _outcome(item: types.InlinedResponse) -> tuple[str, ProviderResult | ProviderError]:
    key = _key(item) or ""
    if item.error is not None or item.response is None:
        code = item.error.code if item.error and item.error.code else 500
        message = item.error.message if item.error else "no response"
        return key, item_error(code, f"gemini {code}: {message}")
    try:
        # judged like a call's answer, from the same JSON the wire carried
        answer = item.response.model_dump(mode="json", by_alias=True, exclude_none=True)
        return key, result_of(answer)
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
