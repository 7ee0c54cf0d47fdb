"""ByteDance Seedream 4.x on Volcengine Ark: POST {base}/api/v3/images/generations.

One synchronous call per image, asked for as base64 by default; with `response_format=url` the
answer carries a signed link (valid 24 hours) that is downloaded at once, within limits: the
output size cap, a time cap, at most 3 redirects, no private addresses (imaging/fetch.py).
Size: the aspect ratio at the resolution's pixel area (1K = 1024², 2K = 2048², 4K = 4096²) as
"WxH", since 1K at a wide ratio would fall under Seedream 4.0's minimum area. The watermark is
off unless `watermark=true` is passed. A 200 can still carry a failure, per image
(`data[].error`) or for the whole call (the SDK's `ImagesResponse.error`): each is classified
by its code like an HTTP error. Negative prompts and seeds are refused (4.x takes neither), so
results carry no seed. Endpoint ids (`ep-…`) are accepted as model names; reference images in
a format the model does not list are re-encoded (PNG with transparency, else JPEG) first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import math
import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import httpx
from PIL import Image
from pydantic import SecretStr

from imagebatch.domain.capabilities import ModelCapabilities, ProviderCapabilities
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
from imagebatch.providers.base import (
    ImageBytes,
    ProviderRequest,
    ProviderResult,
)
from imagebatch.providers.keys import KeyLimits, KeyPool
from imagebatch.providers.result_links import fetch_result
from imagebatch.providers.transport import network_errors

QUOTA_CODES = {
    "QuotaExceeded",
    "AccountQuotaExceeded",
    "SetLimitExceeded",
    "AccountOverdueError",
    "OperationDenied.ServiceOverdue",
}
#: Ark's 429 codes besides the quota ones: worth a retry after a pause
RATE_CODES = (
    "RateLimitExceeded",
    "ModelAccountRpmRateLimitExceeded",
    "ModelAccountTpmRateLimitExceeded",
    "ModelAccountIpmRateLimitExceeded",
    "APIAccountRpmRateLimitExceeded",
    "AccountRateLimitExceeded",
    "InflightBatchsizeExceeded",
    "ServerOverloaded",
    "RequestBurstTooFast",
)
#: the moderation service itself failed, or Ark did: not the content's fault
TRANSIENT_CODES = {"ContentSecurityDetectionError", "InternalServiceError"}
#: the request as sent cannot succeed (codes may carry a ".{parameter}" suffix)
INVALID_CODES = (
    "InvalidParameter",
    "MissingParameter",
    "InvalidImageURL",
    "InvalidArgumentError",
    "OutofContextError",
    "InvalidEndpointOrModel",
    "InvalidEndpoint",
    "ModelNotOpen",
)
AUTH_CODES = ("AuthenticationError", "AccessDenied", "InvalidAccountStatus", "OperationDenied")
#: an endpoint id of the caller's account, usable wherever a model id is
ENDPOINT_ID = re.compile(r"ep-[A-Za-z0-9][A-Za-z0-9-]{0,63}")
#: the reference image formats each model lists; endpoints: the ones every model takes
INPUT_FORMATS = {
    "doubao-seedream-4-0-250828": frozenset({"image/jpeg", "image/png"}),
    "doubao-seedream-4-5-251128": frozenset({"image/jpeg", "image/png", "image/webp"}),
}
COMMON_INPUT_FORMATS = frozenset({"image/jpeg", "image/png"})
REENCODED_JPEG_QUALITY = 95
PARAMS = {
    "watermark": frozenset({"true", "false"}),
    "response_format": frozenset({"b64_json", "url"}),
}
DEFAULT_DOWNLOAD = FetchLimits(max_bytes=64 * 1024 * 1024, timeout=20.0)


def _model(name: str, resolutions: set[Resolution], price: float) -> ModelCapabilities:
    return ModelCapabilities(
        name=name,
        resolutions=frozenset(resolutions),
        seed=False,
        negative_prompt=False,
        price_per_image=price,
        params=PARAMS,
        description="Seedream on Volcengine Ark; price per image (BytePlus USD)",
    )


@dataclass(frozen=True, slots=True)
class ArkCapabilities(ProviderCapabilities):
    """Seedream's models, plus the account's endpoint ids (`ep-…`): some accounts may call a
    model only through an endpoint created for it. Which model an endpoint serves is not known
    here, so it is checked and priced as the default model (Seedream 4.0, the widest: 1K–4K);
    should it serve 4.5, Ark itself refuses a 1K size."""

    def model(self, name: str | None) -> ModelCapabilities | None:
        # (no zero-argument super() in a slots dataclass)
        found = ProviderCapabilities.model(self, name)
        if found is None and name and ENDPOINT_ID.fullmatch(name):
            default = self.models[self.default_model]
            return replace(default, name=name, description=f"Ark endpoint; as {default.name}")
        return found


SEEDREAM_CAPABILITIES = ArkCapabilities(
    provider="seedream",
    default_model="doubao-seedream-4-0-250828",
    models={
        "doubao-seedream-4-0-250828": _model(
            "doubao-seedream-4-0-250828", {Resolution.K1, Resolution.K2, Resolution.K4}, 0.03
        ),
        "doubao-seedream-4-5-251128": _model(
            "doubao-seedream-4-5-251128", {Resolution.K2, Resolution.K4}, 0.04
        ),
    },
)


def size_for(aspect: AspectRatio | None, resolution: Resolution | None) -> str:
    """'WxH' with the resolution's area at the aspect ratio, both multiples of 8."""
    ratio = (aspect or AspectRatio.R1_1).ratio
    area = (resolution or Resolution.K2).long_side ** 2
    width = int(math.sqrt(area * ratio)) // 8 * 8
    height = int(math.sqrt(area / ratio)) // 8 * 8
    return f"{width}x{height}"


class SeedreamProvider:
    name: ClassVar[str] = "seedream"

    def __init__(
        self,
        api_key: SecretStr | None,
        base_url: str,
        timeout: float,
        *,
        key_limits: KeyLimits | None = None,
        download: FetchLimits = DEFAULT_DOWNLOAD,
    ) -> None:
        self.keys = KeyPool("seedream", api_key, limits=key_limits)
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
        self._download = download

    @property
    def capabilities(self) -> ProviderCapabilities:
        return SEEDREAM_CAPABILITIES

    @property
    def configured(self) -> bool:
        return self.keys.configured

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        # The key is free again before any download.
        async with self.keys.lease(request.api_key) as key:
            payload, request_id = await self._post(key, request)
        item = _item(payload, request_id)
        if "url" in item and "b64_json" not in item:
            data = await self._fetch(str(item["url"]), request_id)
        else:
            data = _decoded(item, request_id)
        return ProviderResult((ImageBytes(data, "image/jpeg"),), request_id)

    async def _post(self, key: str, request: ProviderRequest) -> tuple[dict[str, Any], str | None]:
        images = await accepted_images(request.model, request.asked.images)
        with network_errors("seedream"):
            response = await self._http.post(
                "/api/v3/images/generations",
                json=_body(request, images),
                headers={"Authorization": f"Bearer {key}"},
            )
        request_id = response.headers.get("x-request-id")
        payload = _json(response, request_id)
        if response.status_code != 200:
            error = translate(response.status_code, payload, response.headers, request_id)
            error.args = (self.keys.scrub(error.message),)
            raise error
        return payload, request_id

    async def _fetch(self, url: str, request_id: str | None) -> bytes:
        """The image behind a result URL; the link's signature stays out of every message."""
        return await fetch_result(url, self._download, "seedream", request_id)

    async def aclose(self) -> None:
        await self._http.aclose()


async def accepted_images(model: str, images: tuple[ImageBytes, ...]) -> tuple[ImageBytes, ...]:
    """The images, each in a format the model lists; re-encoding runs off the event loop."""
    formats = INPUT_FORMATS.get(model, COMMON_INPUT_FORMATS)
    if all(image.mime in formats for image in images):
        return images
    return await asyncio.to_thread(
        lambda: tuple(image if image.mime in formats else _reencoded(image) for image in images)
    )


def _reencoded(image: ImageBytes) -> ImageBytes:
    """PNG when it has transparency (JPEG would lose it), else a high-quality JPEG (smaller,
    and Ark takes at most 10 MB an image)."""
    buffer = io.BytesIO()
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            if opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info:
                opened.convert("RGBA").save(buffer, "PNG")
                return ImageBytes(buffer.getvalue(), "image/png")
            opened.convert("RGB").save(buffer, "JPEG", quality=REENCODED_JPEG_QUALITY)
    except (OSError, ValueError) as error:  # checked at upload, so only a damaged copy
        raise InvalidRequest(
            f"seedream: a {image.mime} reference image could not be converted to PNG or JPEG, "
            f"which this model needs ({error})"
        ) from None
    return ImageBytes(buffer.getvalue(), "image/jpeg")


def _body(request: ProviderRequest, images: tuple[ImageBytes, ...]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "prompt": request.asked.prompt,
        "size": size_for(request.asked.aspect_ratio, request.asked.resolution),
        "response_format": str(request.asked.params.get("response_format", "b64_json")),
        "sequential_image_generation": "disabled",
        "watermark": str(request.asked.params.get("watermark", "false")).lower() == "true",
        "stream": False,
    }
    if images:
        body["image"] = [
            f"data:{image.mime};base64,{base64.b64encode(image.data).decode()}" for image in images
        ]
    return body


def _json(response: httpx.Response, request_id: str | None) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        if response.status_code >= 500:
            return {}
        raise ProviderUnavailable(
            f"seedream: malformed response (HTTP {response.status_code})", request_id=request_id
        ) from None
    return payload if isinstance(payload, dict) else {}


def _item(payload: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    items = payload.get("data") or []
    whole = payload.get("error")
    if isinstance(whole, dict) and whole and not (items and "error" not in items[0]):
        raise body_error(whole, request_id)  # HTTP 200, yet the whole call failed
    if not items or not isinstance(items[0], dict):
        raise ProviderUnavailable("seedream answered without an image", request_id=request_id)
    item: dict[str, Any] = items[0]
    if "error" in item:
        raise body_error(item["error"], request_id)
    return item


def _decoded(item: dict[str, Any], request_id: str | None) -> bytes:
    try:
        return base64.b64decode(item["b64_json"], validate=True)
    except (KeyError, binascii.Error, ValueError, TypeError):
        raise ProviderUnavailable(
            "seedream sent no valid base64 image", request_id=request_id
        ) from None


def body_error(error: dict[str, Any], request_id: str | None) -> ProviderError:
    """An error inside a 200 answer (per image or for the call), by its code; an unknown code
    is retried, its reason kept."""
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    text = f"seedream: {code}: {message}"
    found = by_code(code, text, request_id)
    return found or ProviderUnavailable(text, request_id=request_id)


def content_risk(code: str) -> bool:
    """Ark's moderation codes: `…SensitiveContentDetected[.reason]` from its own filters,
    `{Input,Output}{Text,Image}RiskDetection` from Volcengine's risk service."""
    return "SensitiveContentDetected" in code or code.endswith("RiskDetection")


def by_code(code: str, text: str, request_id: str | None) -> ProviderError | None:
    if content_risk(code):
        return ContentRejected(text, request_id=request_id)
    if code in QUOTA_CODES:
        return QuotaExhausted(text, request_id=request_id)
    if code.startswith(RATE_CODES):
        return RateLimited(text, request_id=request_id)
    if code in TRANSIENT_CODES:
        return ProviderUnavailable(text, request_id=request_id)
    if code.startswith(AUTH_CODES):
        return AuthFailed(text, request_id=request_id)
    if code.startswith(INVALID_CODES):
        return InvalidRequest(text, request_id=request_id)
    return None


def translate(
    status: int, payload: dict[str, Any], headers: httpx.Headers, request_id: str | None
) -> ProviderError:
    found = payload.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    code = str(error.get("code", ""))
    message = f"seedream {status} {code}: {error.get('message', '')}".strip()
    if code in QUOTA_CODES:
        return QuotaExhausted(message, request_id=request_id)
    if status == 429:
        return RateLimited(
            message, retry_after=_seconds(headers.get("retry-after")), request_id=request_id
        )
    if status in (401, 403) or code.startswith("AuthenticationError"):
        return AuthFailed(message, request_id=request_id)
    if content_risk(code):
        return ContentRejected(message, request_id=request_id)
    if status >= 500 or code in TRANSIENT_CODES:
        return ProviderUnavailable(message, request_id=request_id)
    return InvalidRequest(message, request_id=request_id)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
