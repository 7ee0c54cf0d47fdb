"""Google Gemini image models ("Nano Banana") through the official google-genai SDK.

Failures Gemini reports as HTTP 200 are failures here too: a blocked prompt
(promptFeedback.blockReason), a candidate finished for safety (IMAGE_SAFETY, SAFETY,
PROHIBITED_CONTENT…), or an answer with no image part. Their reason is kept. Parts marked
`thought` (Gemini 3 thinking) are skipped: the last non-thought image is the output. A 429's
delay is read from the body's RetryInfo; a per-day quota waits until the reset (midnight in
California). Negative prompts are refused (the API has none); SDK retries are off.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx
from google import genai
from google.genai import errors, types
from pydantic import SecretStr

from imagebatch.domain.capabilities import ModelCapabilities, ProviderCapabilities
from imagebatch.domain.specs import Resolution
from imagebatch.errors import (
    AuthFailed,
    ContentRejected,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from imagebatch.providers.base import GeneratedImage, ProviderRequest, ProviderResult
from imagebatch.providers.keys import KeyLimits, KeyPool
from imagebatch.providers.transport import network_errors

#: finish reasons that mean the output was refused; retrying the same prompt rarely helps
SAFETY_FINISH = {
    "SAFETY",
    "PROHIBITED_CONTENT",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_RECITATION",
}
QUOTA_RESET_ZONE = ZoneInfo("America/Los_Angeles")


GEMINI_CAPABILITIES = ProviderCapabilities(
    provider="gemini",
    default_model="gemini-2.5-flash-image",
    models={
        "gemini-2.5-flash-image": ModelCapabilities(
            name="gemini-2.5-flash-image",
            max_reference_images=3,
            resolutions=frozenset({Resolution.K1}),
            negative_prompt=False,
            price_per_image=0.039,
            description="Nano Banana: 1K only",
        ),
        "gemini-3-pro-image-preview": ModelCapabilities(
            name="gemini-3-pro-image-preview",
            negative_prompt=False,
            price_per_image=0.134,
            description="Nano Banana Pro: 1K/2K/4K; the price is 1K/2K ($0.24 at 4K)",
        ),
    },
)


class GeminiProvider:
    name: ClassVar[str] = "gemini"

    def __init__(
        self,
        api_key: SecretStr | None,
        base_url: str,
        timeout: float,
        key_limits: KeyLimits | None = None,
    ) -> None:
        self.keys = KeyPool("gemini", api_key, limits=key_limits)
        self._base_url = base_url
        self._timeout = timeout
        self._clients: dict[str, genai.Client] = {}

    @property
    def capabilities(self) -> ProviderCapabilities:
        return GEMINI_CAPABILITIES

    @property
    def configured(self) -> bool:
        return self.keys.configured

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        try:
            async with self.keys.lease(request.api_key) as key:
                response = await self._send(key, request)
        except ValueError as error:  # a 200 whose body is not the JSON it should be
            raise ProviderUnavailable(f"gemini: malformed response ({error})") from None
        # Gemini takes the seed without echoing it: the one sent is the one used.
        return replace(result_of(response), seed=request.seed)

    async def _send(self, key: str, request: ProviderRequest) -> types.GenerateContentResponse:
        own = request.api_key is not None  # a user's own key: a client for this call only
        client = self._new_client(key) if own else self._client(key)
        try:
            with network_errors("gemini"):
                return await client.aio.models.generate_content(
                    model=request.model, contents=contents_of(request), config=config_of(request)
                )
        except errors.APIError as error:
            raise self._translate(error, key) from None
        finally:
            if own:
                await client.aio.aclose()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aio.aclose()

    def _client(self, key: str) -> genai.Client:
        if key not in self._clients:
            self._clients[key] = self._new_client(key)
        return self._clients[key]

    def _new_client(self, key: str) -> genai.Client:
        options = types.HttpOptions(
            base_url=self._base_url,
            api_version="v1beta",
            timeout=int(self._timeout * 1000),
            async_client_args={"transport": _own_transport()},
        )
        return genai.Client(api_key=key, http_options=options)

    def _translate(self, error: errors.APIError, key: str) -> ProviderError:
        translated = translate(error)
        translated.args = (self.keys.scrub(translated.message),)
        if isinstance(translated, RateLimited) and _per_day(_details(error)):
            # A daily quota does not come back in seconds: rest the key, not the whole batch.
            self.keys.rest(key, translated.retry_after or 0.0, "daily quota spent")
        return translated


def _own_transport() -> Any:
    """google-genai switches to aiohttp whenever that is installed; a transport of our own
    keeps it on httpx2 (its default; httpx where that is missing), whose errors
    network_errors() translates and whose wire our fakes have been checked against."""
    try:
        import httpx2
    except ImportError:
        return httpx.AsyncHTTPTransport()
    return httpx2.AsyncHTTPTransport()


def contents_of(request: ProviderRequest) -> types.Content:
    parts = [types.Part.from_text(text=request.prompt)]
    parts += [
        types.Part.from_bytes(data=image.data, mime_type=image.mime) for image in request.images
    ]
    return types.Content(role="user", parts=parts)


def config_of(request: ProviderRequest) -> types.GenerateContentConfig:
    image = types.ImageConfig(
        aspect_ratio=request.aspect_ratio.value if request.aspect_ratio else None,
        # Only models with sizes get one; "1K" is the default and 2.5 Flash takes nothing else.
        image_size=request.resolution.value
        if request.resolution not in (None, Resolution.K1)
        else None,
    )
    return types.GenerateContentConfig(
        response_modalities=["IMAGE"], image_config=image, seed=request.seed
    )


def result_of(response: types.GenerateContentResponse) -> ProviderResult:
    request_id = response.response_id
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        reason = _enum_name(feedback.block_reason)
        detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
        raise ContentRejected(
            f"gemini blocked the prompt ({reason}){detail}", request_id=request_id
        )
    if not response.candidates:
        raise ProviderUnavailable("gemini answered without a candidate", request_id=request_id)
    candidate = response.candidates[0]
    images = [
        part.inline_data
        for part in (candidate.content.parts or [] if candidate.content else [])
        if part.inline_data and part.inline_data.data and not part.thought
    ]
    if images:
        last = images[-1]
        return ProviderResult(
            (GeneratedImage(last.data or b"", last.mime_type or "image/png"),), request_id
        )
    raise _no_image(candidate, request_id)


def _no_image(candidate: types.Candidate, request_id: str | None) -> ProviderError:
    reason = _enum_name(candidate.finish_reason) if candidate.finish_reason else "STOP"
    text = " ".join(
        part.text
        for part in (candidate.content.parts or [] if candidate.content else [])
        if part.text
    ).strip()
    said = f': "{text[:200]}"' if text else ""
    if reason in SAFETY_FINISH:
        return ContentRejected(f"gemini refused the image ({reason}){said}", request_id=request_id)
    # NO_IMAGE, IMAGE_OTHER, a text-only STOP: sampling may do better next time.
    return ProviderUnavailable(f"gemini returned no image ({reason}){said}", request_id=request_id)


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))


def translate(error: errors.APIError) -> ProviderError:
    message = f"gemini {error.code} {error.status or ''}: {error.message}".replace("  ", " ")
    details = _details(error)
    if error.code == 429:
        return RateLimited(message, retry_after=_retry_after(details))
    if error.code in (401, 403) or _reason(details) == "API_KEY_INVALID":
        return AuthFailed(message)
    if error.code >= 500 or error.code == 408:
        return ProviderUnavailable(message)
    return InvalidRequest(message)


def _details(error: errors.APIError) -> list[dict[str, Any]]:
    body = error.details if isinstance(error.details, dict) else {}
    inner = body.get("error", body)
    found = inner.get("details", []) if isinstance(inner, dict) else []
    return [d for d in found if isinstance(d, dict)]


def _reason(details: list[dict[str, Any]]) -> str | None:
    return next((str(d["reason"]) for d in details if "reason" in d), None)


def _per_day(details: list[dict[str, Any]]) -> bool:
    quota_ids = [v.get("quotaId", "") for d in details for v in d.get("violations", [])]
    return any("PerDay" in quota_id for quota_id in quota_ids)


def _retry_after(details: list[dict[str, Any]]) -> float | None:
    if _per_day(details):
        return seconds_until_quota_reset(datetime.now(QUOTA_RESET_ZONE))
    for detail in details:
        match = re.fullmatch(r"([\d.]+)s", str(detail.get("retryDelay", "")))
        if match:
            return float(match.group(1))
    return None


def seconds_until_quota_reset(now: datetime) -> float:
    """Daily quotas reset at midnight Pacific time."""
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()
