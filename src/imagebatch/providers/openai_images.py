"""OpenAI Images (gpt-image-1, gpt-image-1-mini) through the official SDK, and any server that
speaks the same API (`openai-compatible`).

Mapping: aspect ratio 1:1 / 3:2 / 2:3 → size 1024x1024 / 1536x1024 / 1024x1536; other ratios,
2K/4K, seeds and negative prompts are refused at enqueue (the API has none of them), and so is
`background=transparent` with `output_format=jpeg` (the API answers 400). Edits go to
/images/edits as multipart: one image as `image`, several as `image[]` parts, as the SDK sends
them (many compatible servers read only `image`). SDK retries are off: the engine owns retries,
so attempts are counted once.

GPT image models always answer base64. DALL·E and many compatible servers answer with a link
(`data[0].url`) unless `response_format=b64_json` is asked for (an openai-compatible parameter:
GPT image models refuse it); a link is downloaded at once within the fetch limits
(result_links.py). A well-formed 200 that carries no image is final: the server chose to answer
that way, and asking again would generate (and bill) the same nothing.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

import openai
from pydantic import SecretStr

from imagebatch.domain.capabilities import (
    ModelCapabilities,
    ParamConflict,
    ProviderCapabilities,
)
from imagebatch.domain.specs import AspectRatio, Resolution
from imagebatch.errors import (
    AuthFailed,
    ConnectionFailed,
    ContentRejected,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from imagebatch.imaging.fetch import FetchLimits
from imagebatch.providers.base import GeneratedImage, ProviderRequest, ProviderResult
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
        self.name = name  # type: ignore[misc]  # one class, two registry names
        self.keys = KeyPool(name, api_key, limits=key_limits)
        self._base_url = base_url
        self._timeout = timeout
        self._capabilities = capabilities
        self._download = download
        self._clients: dict[str, openai.AsyncOpenAI] = {}

    @property
    def capabilities(self) -> ProviderCapabilities:
        return self._capabilities

    @property
    def configured(self) -> bool:
        return self.keys.configured and bool(self._base_url)

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        fields = fields_of(request)
        async with self.keys.lease(request.api_key) as key:
            if request.api_key is None:
                raw = await self._send(self._client(key), request, fields)
            else:  # a user's own key: a client for this call only, nothing kept
                async with self._new_client(key) as client:
                    raw = await self._send(client, request, fields)
        request_id = raw.headers.get("x-request-id")
        try:
            response = raw.parse()
        except openai.APIError as error:
            raise translate(error) from None
        except ValueError as error:  # a 200 whose body is not the JSON it should be
            raise ProviderUnavailable(f"{self.name}: malformed response ({error})") from None
        # The key is free again before any download.
        item = first_image(response, self.name, request_id)
        if item.b64_json:
            data = decoded(item.b64_json, self.name, request_id)
        else:
            data = await fetch_result(item.url, self._download, self.name, request_id)
        mime = mime_of(response, fields.get("output_format", "png"))
        return ProviderResult((GeneratedImage(data, mime),), request_id=request_id)

    async def _send(
        self, client: openai.AsyncOpenAI, request: ProviderRequest, fields: dict[str, Any]
    ) -> Any:
        try:
            if request.images:
                files = [
                    (f"image-{i}.{_ext(img.mime)}", img.data, img.mime)
                    for i, img in enumerate(request.images)
                ]
                # The SDK sends a lone file as `image` and a list as `image[]` parts.
                image = files[0] if len(files) == 1 else files
                return await client.images.with_raw_response.edit(image=image, **fields)
            return await client.images.with_raw_response.generate(**fields)
        except openai.APIError as error:
            translated = translate(error)
            translated.args = (self.keys.scrub(translated.message),)
            raise translated from None

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()

    def _client(self, key: str) -> openai.AsyncOpenAI:
        if key not in self._clients:
            self._clients[key] = self._new_client(key)
        return self._clients[key]

    def _new_client(self, key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=key, base_url=self._base_url, timeout=self._timeout, max_retries=0
        )


def fields_of(request: ProviderRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "n": 1}
    fields["size"] = SIZES[request.aspect_ratio or AspectRatio.R1_1]
    # the capability check let through only what this provider's model takes
    fields.update({k: v for k, v in request.params.items() if k in COMPATIBLE_PARAMS})
    return fields


def _ext(mime: str) -> str:
    return mime.rsplit("/", 1)[-1]


def result_of(response: Any, output_format: str, request_id: str | None) -> ProviderResult:
    """A batch line's answer: always base64 (the batch API serves GPT image models only)."""
    item = first_image(response, "openai", request_id)
    if not item.b64_json:
        raise InvalidRequest("openai: a batch answer linked to its image", request_id=request_id)
    image = decoded(item.b64_json, "openai", request_id)
    return ProviderResult((GeneratedImage(image, mime_of(response, output_format)),), request_id)


def first_image(response: Any, provider: str, request_id: str | None) -> Any:
    """The answer's first image entry, with `b64_json` or `url` set.

    A well-formed answer without one is final: retrying would bill another generation only to
    meet the same answer (a filter, a server that cannot make this image)."""
    data = getattr(response, "data", None) or []
    if data and (getattr(data[0], "b64_json", None) or getattr(data[0], "url", None)):
        return data[0]
    said = _inner({"error": getattr(response, "error", None)}).get("message")
    reason = f": {said}" if said else " (no data[0].b64_json or data[0].url)"
    raise InvalidRequest(f"{provider} answered without an image{reason}", request_id=request_id)


def decoded(b64: str, provider: str, request_id: str | None) -> bytes:
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        # a body cut short on the way: the next call usually brings a whole one
        raise ProviderUnavailable(
            f"{provider} sent an image that is not valid base64", request_id=request_id
        ) from None


def mime_of(response: Any, output_format: str) -> str:
    """What the answer says it is (the engine checks the bytes themselves anyway)."""
    return MIME.get(getattr(response, "output_format", None) or output_format, "image/png")


def translate(error: openai.APIError) -> ProviderError:
    """OpenAI SDK errors onto ours (see the wire-format notes in shared/provider-apis.md)."""
    if isinstance(error, openai.APITimeoutError):
        return ProviderTimeout("openai: the request timed out")
    if isinstance(error, openai.APIConnectionError):
        return ConnectionFailed(f"openai: cannot connect ({error.message})")
    if not isinstance(error, openai.APIStatusError):
        return ProviderUnavailable(f"openai: malformed response ({error.message})")
    return _from_status(error)


def _from_status(error: openai.APIStatusError) -> ProviderError:
    return status_error(
        error.status_code, error.body, error.request_id, error.response.headers, error.message
    )


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
