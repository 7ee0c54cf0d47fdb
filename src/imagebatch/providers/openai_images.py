"""OpenAI Images (gpt-image-1, gpt-image-1-mini), and any server that speaks the same API
(`openai-compatible`). Image calls go over plain HTTP (images_http.py: the SDK's own wire,
without its per-call cost); the batch API goes through the official SDK (openai_batch.py).

Mapping: aspect ratio 1:1 / 3:2 / 2:3 → size 1024x1024 / 1536x1024 / 1024x1536; other ratios,
2K/4K, seeds and negative prompts are refused at enqueue (the API has none of them), and so is
`background=transparent` with `output_format=jpeg` (the API answers 400). Edits go to
/images/edits as multipart: one image as `image`, several as `image[]` parts, as the SDK sends
them (many compatible servers read only `image`). Nothing retries below the engine: it owns
retries, so attempts are counted once.

GPT image models always answer base64. DALL·E and many compatible servers answer with a link
(`data[0].url`) unless `response_format=b64_json` is asked for (an openai-compatible parameter:
GPT image models refuse it); a link is downloaded at once within the fetch limits
(result_links.py). A well-formed 200 that carries no image is final: the server chose to answer
that way, and asking again would generate (and bill) the same nothing.
"""

from __future__ import annotations

import binascii
from typing import Any, ClassVar

import pybase64
from pydantic import SecretStr

from imagebatch.domain.capabilities import (
    ModelCapabilities,
    ParamConflict,
    ProviderCapabilities,
)
from imagebatch.domain.specs import AspectRatio, Resolution
from imagebatch.errors import (
    AuthFailed,
    ContentRejected,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from imagebatch.imaging.fetch import FetchLimits
from imagebatch.providers.base import ImageBytes, ProviderRequest, ProviderResult
from imagebatch.providers.images_http import Answer, ImagesHttp
from imagebatch.providers.keys import KeyLimits, KeyPool
from imagebatch.providers.result_links import DEFAULT_DOWNLOAD, fetch_result

SIZES = {
    AspectRatio.R1_1: "1024x1024",
    AspectRatio.R3_2: "1536x1024",
    AspectRatio.R2_3: "1024x1536",
}
PARAMS = {
    "quality": frozenset({"low", "medium", "high", "auto"}),
    "output_format": frozenset({"png", "jpeg", "webp"}),
    "background": frozenset({"transparent", "opaque", "auto"}),
}
#: a compatible server may answer with links (DALL·E's default) or base64
COMPATIBLE_PARAMS = {**PARAMS, "response_format": frozenset({"url", "b64_json"})}
CONFLICTS = (
    ParamConflict(
        {"background": "transparent", "output_format": "jpeg"},
        "JPEG has no transparency: use output_format=png or webp, or another background",
    ),
)
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MODERATION_CODES = {"moderation_blocked", "content_policy_violation"}


def _model(name: str, price: float) -> ModelCapabilities:
    return ModelCapabilities(
        name=name,
        max_reference_images=4,
        aspect_ratios=frozenset(SIZES),
        resolutions=frozenset({Resolution.K1}),
        seed=False,
        negative_prompt=False,
        price_per_image=price,
        params=PARAMS,
        param_conflicts=CONFLICTS,
        description="OpenAI GPT Image; price is medium quality at 1024x1024",
    )


OPENAI_CAPABILITIES = ProviderCapabilities(
    provider="openai",
    default_model="gpt-image-1",
    models={
        "gpt-image-1": _model("gpt-image-1", 0.042),
        "gpt-image-1-mini": _model("gpt-image-1-mini", 0.011),
    },
)


def compatible_capabilities(default_model: str) -> ProviderCapabilities:
    """A server speaking the OpenAI images API: any model name, the same parameters."""
    model = ModelCapabilities(
        name=default_model,
        max_reference_images=4,
        aspect_ratios=frozenset(SIZES),
        resolutions=frozenset({Resolution.K1}),
        seed=False,
        negative_prompt=False,
        params=COMPATIBLE_PARAMS,
        param_conflicts=CONFLICTS,
        description="any server speaking the OpenAI images API",
    )
    return ProviderCapabilities(
        provider="openai-compatible",
        default_model=default_model,
        models={default_model: model},
        any_model=True,
    )


class OpenAIImagesProvider:
    name: ClassVar[str] = "openai"

    def __init__(
        self,
        api_key: SecretStr | None,
        base_url: str,
        timeout: float,
        *,
        name: str = "openai",
        capabilities: ProviderCapabilities = OPENAI_CAPABILITIES,
        key_limits: KeyLimits | None = None,
        download: FetchLimits = DEFAULT_DOWNLOAD,
    ) -> None:
        self.name = name  # type: ignore[misc]  # one class, two provider names
        self.keys = KeyPool(name, api_key, limits=key_limits)
        self._base_url = base_url
        self._timeout = timeout
        self._capabilities = capabilities
        self._download = download
        self._wire = ImagesHttp(name, base_url, timeout)

    @property
    def capabilities(self) -> ProviderCapabilities:
        return self._capabilities

    @property
    def configured(self) -> bool:
        return self.keys.configured and bool(self._base_url)

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        fields = fields_of(request)
        # A user's own key (BYOK) travels with its one call: the client keeps no key.
        async with self.keys.lease(request.api_key) as key:
            answer = await self._send(key, request, fields)
            self._raise_for_status(answer)  # inside the lease: the pool learns of 401s, 429s
        # The key is free again before any download.
        response = self._json_object(answer)
        item = first_image(response, self.name, answer.request_id)
        if b64 := _field(item, "b64_json"):
            data = decoded(b64, self.name, answer.request_id)
        else:
            data = await fetch_result(item["url"], self._download, self.name, answer.request_id)
        mime = mime_of(response, fields.get("output_format", "png"))
        return ProviderResult((ImageBytes(data, mime),), request_id=answer.request_id)

    async def _send(self, key: str, request: ProviderRequest, fields: dict[str, Any]) -> Answer:
        if request.asked.images:
            return await self._wire.edit(key, fields, request.asked.images)
        return await self._wire.generate(key, fields)

    def _raise_for_status(self, answer: Answer) -> None:
        if answer.status < 300:
            return
        fallback = answer.text or "no message"
        error = status_error(
            answer.status, answer.body, answer.request_id, answer.headers, fallback
        )
        error.args = (self.keys.scrub(error.message),)
        raise error

    def _json_object(self, answer: Answer) -> dict[str, Any]:
        if not isinstance(answer.body, dict):  # a 200 whose body is not the JSON it should be
            raise ProviderUnavailable(
                f"{self.name}: malformed response (not a JSON object)",
                request_id=answer.request_id,
            )
        return answer.body

    async def aclose(self) -> None:
        await self._wire.aclose()


def fields_of(request: ProviderRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {"model": request.model, "prompt": request.asked.prompt, "n": 1}
    fields["size"] = SIZES[request.asked.aspect_ratio or AspectRatio.R1_1]
    # the capability check let through only what this provider's model takes
    fields.update({k: v for k, v in request.asked.params.items() if k in COMPATIBLE_PARAMS})
    return fields


def result_of(response: Any, output_format: str, request_id: str | None) -> ProviderResult:
    """A batch line's answer: always base64 (the batch API serves GPT image models only)."""
    item = first_image(response, "openai", request_id)
    if not item.b64_json:
        raise InvalidRequest("openai: a batch answer linked to its image", request_id=request_id)
    image = decoded(item.b64_json, "openai", request_id)
    return ProviderResult((ImageBytes(image, mime_of(response, output_format)),), request_id)


def first_image(response: Any, provider: str, request_id: str | None) -> Any:
    """The answer's first image entry, with `b64_json` or `url` set.

    A well-formed answer without one is final: retrying would bill another generation only to
    meet the same answer (a filter, a server that cannot make this image)."""
    data = _field(response, "data")
    if isinstance(data, list) and data and (_field(data[0], "b64_json") or _field(data[0], "url")):
        return data[0]
    said = _inner({"error": _field(response, "error")}).get("message")
    reason = f": {said}" if said else " (no data[0].b64_json or data[0].url)"
    raise InvalidRequest(f"{provider} answered without an image{reason}", request_id=request_id)


def _field(value: Any, name: str) -> Any:
    """A field of a JSON object, or of the SDK's parsed answer (batch lines)."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def decoded(b64: str | memoryview, provider: str, request_id: str | None) -> bytes:
    """The image of a base64 text: a str, or (images_http.lifted_image) the answer's bytes."""
    try:
        # strict: only the alphabet and proper padding. pybase64's SIMD decoder: binascii's
        # took 1.1 ms for a 200 KB image, the largest CPU cost of a call; this one 0.03 ms
        return pybase64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError, TypeError):  # TypeError: not a string at all
        # a body cut short on the way: the next call usually brings a whole one
        raise ProviderUnavailable(
            f"{provider} sent an image that is not valid base64", request_id=request_id
        ) from None


def mime_of(response: Any, output_format: str) -> str:
    """What the answer says it is (the engine checks the bytes themselves anyway)."""
    return MIME.get(_field(response, "output_format") or output_format, "image/png")


def status_error(
    status: int,
    body: object,
    request_id: str | None,
    headers: Any = None,
    fallback: str = "no message",
) -> ProviderError:
    """An HTTP error answer of the Images API onto ours (also a batch job's failed line)."""
    inner = _inner(body)
    code = str(inner["code"]) if inner.get("code") else None
    message = f"openai {status}: {inner.get('message') or fallback}"
    wait = retry_after(headers) if headers is not None else None
    if status == 429 and code == "insufficient_quota":
        return QuotaExhausted(message, request_id=request_id)
    if status == 429:
        return RateLimited(message, retry_after=wait, request_id=request_id)
    if status in (401, 403):
        return AuthFailed(message, request_id=request_id)
    if status == 400 and code in MODERATION_CODES:
        return ContentRejected(message, request_id=request_id)
    if status >= 500 or status in (408, 409):
        return ProviderUnavailable(message, retry_after=wait, request_id=request_id)
    return InvalidRequest(message, request_id=request_id)


def _inner(body: object) -> dict[str, Any]:
    if isinstance(body, dict):
        inner = body.get("error", body)
        return inner if isinstance(inner, dict) else {}
    return {}


def retry_after(headers: Any) -> float | None:
    """Seconds from retry-after-ms or retry-after (seconds form), as OpenAI sends them."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) / scale
            except ValueError:
                continue
    return None
