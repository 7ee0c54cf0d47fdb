"""ByteDance Seedream 4.x on Volcengine Ark: POST {base}/api/v3/images/generations.

One synchronous call per image, asked for as base64 by default; with `response_format=url` the
answer carries a signed link (valid 24 hours) that is downloaded at once, within limits: the
output size cap, a time cap, at most 3 redirects, no private addresses (imaging/fetch.py).
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
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from imagebatch.domain.capabilities import ModelCapabilities, ProviderCapabilities
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
from imagebatch.imaging.fetch import FetchFailed, FetchLimits, fetch_bytes
from imagebatch.providers.base import GeneratedImage, ProviderRequest, ProviderResult
from imagebatch.providers.keys import KeyLimits, KeyPool
from imagebatch.providers.transport import network_errors

QUOTA_CODES = {"QuotaExceeded", "AccountQuotaExceeded", "SetLimitExceeded", "AccountOverdueError"}
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
        return ProviderResult((GeneratedImage(data, "image/jpeg"),), request_id)

    async def _post(self, key: str, request: ProviderRequest) -> tuple[dict[str, Any], str | None]:
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
            raise error
        return payload, request_id

    async def _fetch(self, url: str, request_id: str | None) -> bytes:
        """The image behind a result URL; the link's signature stays out of every message."""
        shown = "the result URL " + urlsplit(url)._replace(query="", fragment="").geturl()
        try:
            return await fetch_bytes(url, self._download, shown=shown)
        except FetchFailed as failed:
            raise download_error(failed, self._download, request_id) from None

    async def aclose(self) -> None:
        await self._http.aclose()


def _body(request: ProviderRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "prompt": request.prompt,
        "size": size_for(request.aspect_ratio, request.resolution),
        "response_format": str(request.params.get("response_format", "b64_json")),
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


def _item(payload: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    items = payload.get("data") or []
    if not items or not isinstance(items[0], dict):
        raise ProviderUnavailable("seedream answered without an image", request_id=request_id)
    item: dict[str, Any] = items[0]
    if "error" in item:
        raise _item_error(item["error"], request_id)
    return item


def _decoded(item: dict[str, Any], request_id: str | None) -> bytes:
    try:
        return base64.b64decode(item["b64_json"], validate=True)
    except (KeyError, binascii.Error, ValueError, TypeError):
        raise ProviderUnavailable(
            "seedream sent no valid base64 image", request_id=request_id
        ) from None


def download_error(
    failed: FetchFailed, limits: FetchLimits, request_id: str | None
) -> ProviderError:
    """How a failed result download counts: a retry generates (and bills) a new image, so only
    failures a new link may not meet again are retryable."""
    text = f"seedream: downloading {failed.problem}"
    if failed.kind == "timeout":
        return ProviderTimeout(text, request_id=request_id)
    if failed.kind in ("network", "unresolvable"):
        return ConnectionFailed(text, request_id=request_id)
    if failed.kind == "status":
        # 5xx/429: the CDN is struggling. 403/404/410: the link expired or is not there yet
        # (clock skew, replication); a new generation brings a fresh link.
        return ProviderUnavailable(
            f"{text}; a retry generates the image again", request_id=request_id
        )
    if failed.kind == "too_large":
        limit = limits.max_bytes / 1_048_576
        return InvalidRequest(
            f"{text} (over {limit:.0f} MiB): raise IMAGEBATCH_MAX_OUTPUT_BYTES or ask for a "
            "smaller resolution",
            request_id=request_id,
        )
    # refused (a private address or not http) or a redirect loop: the same next time
    hint = f" ({failed.hint})" if failed.hint else ""
    return InvalidRequest(f"{text}{hint}", request_id=request_id)


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
