"""Google Gemini image models ("Nano Banana"): generateContent as REST JSON over httpx2.

Failures Gemini reports as HTTP 200 are failures here too: a blocked prompt
(promptFeedback.blockReason), a candidate finished for safety (IMAGE_SAFETY, SAFETY,
PROHIBITED_CONTENT…), or an answer with no image part. Their reason is kept. Parts marked
`thought` (Gemini 3 thinking) are skipped: the last non-thought image is the output. A 429's
delay is read from the body's RetryInfo; a per-day quota waits until the reset (midnight in
California). Negative prompts are refused (the API has none); nothing retries below the engine.

One call is one POST of the JSON the google-genai SDK sends (the key in x-goog-api-key), on
the lean HTTP session the OpenAI image calls use (images_http.py); answers are read in
camelCase or snake_case, as some proxies write them. Not the SDK: with its import and typed
models it cost 0.6 s of CPU in a run of 20 images (1.83 against 1.23 s, bench/startup.py;
issue 17), for nothing a single call uses. Batch Mode keeps it (gemini_batch.py), imported
when a batch job is touched.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

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
from imagebatch.providers.base import ImageBytes, ProviderRequest, ProviderResult
from imagebatch.providers.images_http import Answer, HttpSession
from imagebatch.providers.keys import KeyLimits, KeyPool

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
API_VERSION = "v1beta"


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
        #: one session for every key (the key travels per request), opened at the first call
        self._http = HttpSession("gemini", timeout)

    @property
    def capabilities(self) -> ProviderCapabilities:
        return GEMINI_CAPABILITIES

    @property
    def configured(self) -> bool:
        return self.keys.configured

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        # A user's own key (BYOK) travels with its one call: the pool keeps no key.
        async with self.keys.lease(request.api_key) as key:
            answer = await self._send(key, request)
            if answer.status != 200:  # inside the lease: the pool learns of bad keys, 429s
                raise self._failure(key, answer.status, answer.body, answer.text)
        if not isinstance(answer.body, dict):  # a 200 whose body is not the JSON it should be
            raise ProviderUnavailable("gemini: malformed response (not a JSON object)")
        # Gemini takes the seed without echoing it: the one sent is the one used.
        return replace(result_of(answer.body), seed=request.asked.seed)

    async def _send(self, key: str, request: ProviderRequest) -> Answer:
        url = f"{self._base_url.rstrip('/')}/{API_VERSION}/{_model_path(request.model)}"
        headers = {"x-goog-api-key": key, "Content-Type": "application/json"}
        content = json.dumps(body_of(request)).encode()
        return await self._http.post(url + ":generateContent", headers, content=content)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _failure(self, key: str, code: int, body: object, text: str = "") -> ProviderError:
        """An error answer onto ours, the key scrubbed from it; a spent daily quota rests
        the key (it does not come back in seconds: rest the key, not the whole batch)."""
        translated = translate(code, body, text)
        translated.args = (self.keys.scrub(translated.message),)
        if isinstance(translated, RateLimited) and _per_day(_details(body)):
            self.keys.rest(key, translated.retry_after or 0.0, "daily quota spent")
        return translated


def _model_path(model: str) -> str:
    """`models/<name>` as the SDK makes it; a name with a collection already is kept."""
    return model if "/" in model else f"models/{model}"


def body_of(request: ProviderRequest) -> dict[str, Any]:
    """The generateContent request: the prompt, then each image inline as base64."""
    asked = request.asked
    parts: list[dict[str, Any]] = [{"text": asked.prompt}]
    # byte for byte the SDK's own (test_provider_gemini checks): `mime_type` in snake_case
    # and URL-safe base64, both of which the API takes
    parts += [
        {"inlineData": {"data": _base64(image.data), "mime_type": image.mime}}
        for image in asked.images
    ]
    image_config: dict[str, str] = {}
    if asked.aspect_ratio:
        image_config["aspectRatio"] = asked.aspect_ratio.value
    # Only models with sizes get one; "1K" is the default and 2.5 Flash takes nothing else.
    if asked.resolution not in (None, Resolution.K1):
        image_config["imageSize"] = asked.resolution.value
    config: dict[str, Any] = {"responseModalities": ["IMAGE"], "imageConfig": image_config}
    if asked.seed is not None:
        config["seed"] = asked.seed
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


def _base64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _field(value: Any, camel: str, snake: str) -> Any:
    """A field of an answer object, in camelCase (Gemini) or snake_case (some proxies)."""
    if not isinstance(value, dict):
        return None
    found = value.get(camel)
    return found if found is not None else value.get(snake)


def result_of(response: dict[str, Any]) -> ProviderResult:
    """A 200 answer (a call's, or a batch item's) onto its image, or the failure it says."""
    request_id = _field(response, "responseId", "response_id")
    feedback = _field(response, "promptFeedback", "prompt_feedback")
    reason = _field(feedback, "blockReason", "block_reason")
    if reason:
        said = _field(feedback, "blockReasonMessage", "block_reason_message")
        detail = f": {said}" if said else ""
        raise ContentRejected(
            f"gemini blocked the prompt ({reason}){detail}", request_id=request_id
        )
    candidates = response.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise ProviderUnavailable("gemini answered without a candidate", request_id=request_id)
    candidate = candidates[0]
    parts = _parts(candidate)
    images = [inline for part in parts if (inline := _inline_image(part))]
    if images:
        last = images[-1]
        mime = _field(last, "mimeType", "mime_type") or "image/png"
        return ProviderResult((ImageBytes(_decoded(last["data"]), mime),), request_id)
    raise _no_image(candidate, parts, request_id)


def _parts(candidate: Any) -> list[dict[str, Any]]:
    parts = _field(_field(candidate, "content", "content"), "parts", "parts")
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def _inline_image(part: dict[str, Any]) -> dict[str, Any] | None:
    """The part's image, unless it has none or is a thought (an interim image)."""
    inline = _field(part, "inlineData", "inline_data")
    if part.get("thought") or not isinstance(inline, dict) or not inline.get("data"):
        return None
    return inline


def _decoded(data: object) -> bytes:
    """Proto JSON bytes: standard base64, or the URL-safe alphabet, padded or not."""
    if not isinstance(data, str):
        raise ProviderUnavailable("gemini: malformed response (image data is not a string)")
    try:
        if "-" in data or "_" in data:
            data = data.replace("-", "+").replace("_", "/")
        # checked in C without a copy of the text (the padding it may lack is added)
        return binascii.a2b_base64(data + "=" * (-len(data) % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        raise ProviderUnavailable("gemini: malformed response (image is not base64)") from None


def _no_image(candidate: Any, parts: list[dict[str, Any]], request_id: str | None) -> ProviderError:
    reason = _field(candidate, "finishReason", "finish_reason") or "STOP"
    text = " ".join(str(part["text"]) for part in parts if part.get("text")).strip()
    said = f': "{text[:200]}"' if text else ""
    if reason in SAFETY_FINISH:
        return ContentRejected(f"gemini refused the image ({reason}){said}", request_id=request_id)
    # NO_IMAGE, IMAGE_OTHER, a text-only STOP: sampling may do better next time.
    return ProviderUnavailable(f"gemini returned no image ({reason}){said}", request_id=request_id)


def translate(code: int, body: object, text: str = "") -> ProviderError:
    """An HTTP error answer (`{"error": {code, message, status, details}}`) onto ours."""
    inner = _inner(body)
    status = inner.get("status") or ("" if isinstance(body, dict) else _phrase(code))
    said = inner.get("message") or text
    message = f"gemini {code} {status or ''}: {said}".replace("  ", " ")
    details = _details(body)
    if code == 429:
        return RateLimited(message, retry_after=_retry_after(details))
    if code in (401, 403) or _reason(details) == "API_KEY_INVALID":
        return AuthFailed(message)
    if code >= 500 or code == 408:
        return ProviderUnavailable(message)
    return InvalidRequest(message)


def _inner(body: object) -> dict[str, Any]:
    if isinstance(body, list) and len(body) == 1:  # as the SDK reads a one-element list
        body = body[0]
    if not isinstance(body, dict):
        return {}
    inner = body.get("error", body)
    return inner if isinstance(inner, dict) else {}


def _phrase(code: int) -> str:
    """The status's reason phrase, the SDK's `status` for a body that is not JSON."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _details(body: object) -> list[dict[str, Any]]:
    found = _inner(body).get("details", [])
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


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
