"""ByteDance Seedream 4.x on Volcengine Ark: POST {base}/api/v3/images/generations.

One synchronous call per image, asked for as base64 (no URL to download, no 24-hour expiry).
Size: the aspect ratio at the resolution's pixel area (1K = 1024², 2K = 2048², 4K = 4096²) as
"WxH", since 1K at a wide ratio would fall under Seedream 4.0's minimum area. The watermark is
off unless `watermark=true` is passed. A 200 can still carry a failed image (`data[].error`):
that is a failure too. Negative prompts and seeds are refused (4.x takes neither).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, ClassVar

import httpx
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
from imagebatch.providers.base import GeneratedImage, ProviderRequest, ProviderResult
from imagebatch.providers.keys import KeyPool
from imagebatch.providers.transport import network_errors

QUOTA_CODES = {"QuotaExceeded", "AccountQuotaExceeded", "SetLimitExceeded", "AccountOverdueError"}
PARAMS = {"watermark": frozenset({"true", "false"})}


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


SEEDREAM_CAPABILITIES = ProviderCapabilities(
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

    def __init__(self, api_key: SecretStr | None, base_url: str, timeout: float) -> None:
        self.keys = KeyPool("seedream", api_key)
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    @property
    def capabilities(self) -> ProviderCapabilities:
        return SEEDREAM_CAPABILITIES

    @property
    def configured(self) -> bool:
        return self.keys.configured

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        key = self.keys.next()
        with network_errors("seedream"):
            response = await self._http.post(
                "/api/v3/images/generations",
                json=_body(request),
                headers={"Authorization": f"Bearer {key}"},
            )
        request_id = response.headers.get("x-request-id")
        payload = _json(response, request_id)
        if response.status_code != 200:
            error = translate(response.status_code, payload, response.headers, request_id)
            error.args = (self.keys.scrub(error.message),)
            if isinstance(error, AuthFailed):
                self.keys.disable(key, error.message)
            raise error
        return _result(payload, request_id)

    async def aclose(self) -> None:
        await self._http.aclose()


def _body(request: ProviderRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "prompt": request.prompt,
        "size": size_for(request.aspect_ratio, request.resolution),
        "response_format": "b64_json",
        "sequential_image_generation": "disabled",
        "watermark": str(request.params.get("watermark", "false")).lower() == "true",
        "stream": False,
    }
    if request.images:
        body["image"] = [
            f"data:{image.mime};base64,{base64.b64encode(image.data).decode()}"
            for image in request.images
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


def _result(payload: dict[str, Any], request_id: str | None) -> ProviderResult:
    items = payload.get("data") or []
    if not items:
        raise ProviderUnavailable("seedream answered without an image", request_id=request_id)
    item = items[0]
    if "error" in item:
        raise _item_error(item["error"], request_id)
    try:
        data = base64.b64decode(item["b64_json"], validate=True)
    except (KeyError, binascii.Error, ValueError):
        raise ProviderUnavailable(
            "seedream sent no valid base64 image", request_id=request_id
        ) from None
    return ProviderResult((GeneratedImage(data, "image/jpeg"),), request_id)


def _item_error(error: dict[str, Any], request_id: str | None) -> ProviderError:
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    text = f"seedream: {code}: {message}"
    if "Sensitive" in code:
        return ContentRejected(text, request_id=request_id)
    return ProviderUnavailable(text, request_id=request_id)


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
    if "Sensitive" in code:
        return ContentRejected(message, request_id=request_id)
    if status >= 500:
        return ProviderUnavailable(message, request_id=request_id)
    return InvalidRequest(message, request_id=request_id)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
