"""OpenAI Batch API for images (economy mode): one JSONL file of requests, one batch job.

A job holds either generations (`/v1/images/generations`, the JSON body of a normal call) or
edits (`/v1/images/edits`). A batch line is JSON, so edits use the Images API's JSON form of
an edit (`EditImageBodyJsonParam` in OpenAI's OpenAPI spec): the images travel as base64 data
URLs in `images: [{"image_url": ...}]` instead of multipart parts. Our marker travels as the
batch's metadata, so a job created just before a crash is found again. Each output line is
matched to its task by `custom_id`, never by position; a failed line is classified like the
same error of a normal call.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Sequence
from typing import Any, Literal

import openai
from openai.types import ImagesResponse
from pydantic import ValidationError

from imagebatch.errors import (
    ConnectionFailed,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from imagebatch.providers.base import (
    BatchLimits,
    JobState,
    JobStatus,
    ProviderRequest,
    ProviderResult,
    SubmittedJob,
)
from imagebatch.providers.keys import key_ref
from imagebatch.providers.openai_images import (
    OpenAIImagesProvider,
    fields_of,
    result_of,
    status_error,
)

MARKER_KEY = "imagebatch_marker"
#: the API's limits for one batch: 50,000 requests, a 200 MB input file (with a margin)
LIMITS = BatchLimits(max_requests=50_000, max_bytes=190 * 1024 * 1024)
#: how many of a key's recent batches are searched for a marker after a crash
FIND_DEPTH = 1000

STATUSES: dict[str, JobStatus] = {
    "validating": "pending",
    "in_progress": "running",
    "finalizing": "running",
    "cancelling": "running",
    "completed": "succeeded",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}

Endpoint = Literal["/v1/images/generations", "/v1/images/edits"]


class OpenAIBatchProvider(OpenAIImagesProvider):
    """The OpenAI provider, plus batch jobs at the Batch API's discount."""

    def __init__(self, *args: Any, batch_discount: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_discount = batch_discount
        #: the SDK's clients, one per key, for the Files and Batch APIs (image calls go over
        #: images_http.py)
        self._clients: dict[str, openai.AsyncOpenAI] = {}

    def batch_limits(self, model: str) -> BatchLimits:
        return LIMITS

    async def submit_batch(
        self, items: Sequence[tuple[str, ProviderRequest]], marker: str
    ) -> SubmittedJob:
        endpoint = _endpoint(items)
        lines = (json.dumps(_line(key, request, endpoint)) for key, request in items)
        data = ("\n".join(lines) + "\n").encode()
        async with self.keys.lease() as key:
            client = self._client(key)
            uploaded = await self._call(
                client.files.create(file=("imagebatch.jsonl", data), purpose="batch")
            )
            batch = await self._call(
                client.batches.create(
                    input_file_id=uploaded.id,
                    endpoint=endpoint,
                    completion_window="24h",
                    metadata={MARKER_KEY: marker},
                )
            )
        return SubmittedJob(batch.id, key_ref(key))

    async def find_batch(self, marker: str) -> SubmittedJob | None:
        for key in self.keys.all_keys():
            found = await self._call(self._find(key, marker))
            if found is not None:
                return SubmittedJob(found, key_ref(key))
        return None

    async def _find(self, key: str, marker: str) -> str | None:
        """The id of this key's batch carrying `marker`, among its newest FIND_DEPTH."""
        seen = 0
        async for batch in self._client(key).batches.list(limit=100):
            if (batch.metadata or {}).get(MARKER_KEY) == marker:
                return batch.id
            seen += 1
            if seen >= FIND_DEPTH:
                break
        return None

    async def poll_batch(self, job: SubmittedJob) -> JobState:
        client = self._client(self.keys.by_ref(job.key_ref))
        batch = await self._call(client.batches.retrieve(job.external_id))
        status = STATUSES.get(batch.status)
        if status is None:
            raise ProviderUnavailable(f"openai: unknown batch status {batch.status!r}")
        if status not in ("succeeded", "failed", "expired", "cancelled"):
            return JobState(status)
        results: dict[str, ProviderResult | ProviderError] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await self._call(client.files.content(file_id))
                results.update(_results(content.content))
        errors = batch.errors.data if batch.errors and batch.errors.data else []
        message = "; ".join(f"{e.code}: {e.message}" for e in errors) or None
        return JobState(status, results, message)

    async def cancel_batch(self, job: SubmittedJob) -> None:
        client = self._client(self.keys.by_ref(job.key_ref))
        await self._call(client.batches.cancel(job.external_id))

    async def discard_batch(self, job: SubmittedJob) -> None:
        """OpenAI keeps a job's input, output and error files until they are deleted."""
        client = self._client(self.keys.by_ref(job.key_ref))
        batch = await self._call(client.batches.retrieve(job.external_id))
        for file_id in (batch.input_file_id, batch.output_file_id, batch.error_file_id):
            if file_id:
                await self._call(_delete_file(client, file_id))

    async def aclose(self) -> None:
        await super().aclose()
        for client in self._clients.values():
            await client.close()

    def _client(self, key: str) -> openai.AsyncOpenAI:
        if key not in self._clients:
            self._clients[key] = openai.AsyncOpenAI(
                api_key=key, base_url=self._base_url, timeout=self._timeout, max_retries=0
            )
        return self._clients[key]

    async def _call(self, pending: Any) -> Any:
        try:
            return await pending
        except openai.APIError as error:
            raise self._translated(error) from None

    def _translated(self, error: openai.APIError) -> ProviderError:
        translated = translate(error)
        translated.args = (self.keys.scrub(translated.message),)
        return translated


def translate(error: openai.APIError) -> ProviderError:
    """OpenAI SDK errors onto ours (see the wire-format notes in shared/provider-apis.md)."""
    if isinstance(error, openai.APITimeoutError):
        return ProviderTimeout("openai: the request timed out")
    if isinstance(error, openai.APIConnectionError):
        return ConnectionFailed(f"openai: cannot connect ({error.message})")
    if not isinstance(error, openai.APIStatusError):
        return ProviderUnavailable(f"openai: malformed response ({error.message})")
    return status_error(
        error.status_code, error.body, error.request_id, error.response.headers, error.message
    )


async def _delete_file(client: openai.AsyncOpenAI, file_id: str) -> None:
    with contextlib.suppress(openai.NotFoundError):  # deleted already
        await client.files.delete(file_id)


def _endpoint(items: Sequence[tuple[str, ProviderRequest]]) -> Endpoint:
    edits = {bool(request.asked.images) for _, request in items}
    if len(edits) != 1:
        raise InvalidRequest("openai: one batch job holds either generations or edits, not both")
    return "/v1/images/edits" if edits.pop() else "/v1/images/generations"


def _line(key: str, request: ProviderRequest, endpoint: Endpoint) -> dict[str, Any]:
    body = fields_of(request)
    if request.asked.images:
        body["images"] = [
            {"image_url": f"data:{image.mime};base64,{base64.b64encode(image.data).decode()}"}
            for image in request.asked.images
        ]
    return {"custom_id": key, "method": "POST", "url": endpoint, "body": body}


def _results(content: bytes) -> dict[str, ProviderResult | ProviderError]:
    """Output or error file lines by custom_id; lines that never ran are left out."""
    found: dict[str, ProviderResult | ProviderError] = {}
    for raw in content.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # one damaged line must not hide the others' images
        outcome = _outcome(line)
        if outcome is not None and isinstance(line.get("custom_id"), str):
            found[line["custom_id"]] = outcome
    return found


def _outcome(line: dict[str, Any]) -> ProviderResult | ProviderError | None:
    response = line.get("response")
    if not isinstance(response, dict):
        return None  # e.g. batch_expired, batch_cancelled: the request never ran
    status = int(response.get("status_code") or 0)
    body = response.get("body")
    request_id = response.get("request_id")
    if status != 200:
        return status_error(status, body, request_id)
    try:
        parsed = ImagesResponse.model_validate(body)
        fmt = parsed.output_format or "png"
        return result_of(parsed, fmt, request_id)
    except ValidationError as error:
        return ProviderUnavailable(f"openai: malformed batch answer ({error.error_count()} errors)")
    except ProviderError as error:
        return error
