"""Jimeng 4.0 (即梦) on the Volcengine visual API: a signed submit, then polling for the result.

Requests are signed with the official Volcengine SDK's SignerV4 (service cv, region
cn-north-1); the key is "ACCESS_KEY_ID:SECRET_ACCESS_KEY". Text to image only: the API takes
input images as public URLs (`image_urls`), which a self-hosted batch has no business
publishing. Size (`size_for`): the documented recommended width × height where there is one,
else the aspect ratio at the resolution's area, in steps of 16 and inside the documented
bounds (area 1024²–4096², width/height 1/3–3). `force_single` is on, so one request is one
billed image. A "done" poll can still be a failure: the outer code decides. Jimeng 4.0 takes
no seed, so results carry none.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from volcengine.auth.SignerV4 import SignerV4
from volcengine.base.Request import Request as VolcRequest
from volcengine.Credentials import Credentials

from imagebatch.domain.capabilities import ModelCapabilities, ProviderCapabilities
from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.errors import (
    AuthFailed,
    ContentRejected,
    FinalError,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from imagebatch.providers.base import ImageBytes, ProviderRequest, ProviderResult
from imagebatch.providers.keys import KeyLimits, KeyPool
from imagebatch.providers.transport import network_errors

VERSION = "2022-08-31"
OK = 10000
# The business codes and whether the documentation says a retry helps ("是否需要重试"):
#: input image / input text / output text / sensitive or copyrighted words: final
REJECTED = {50411, 50412, 50512, 50413}
#: output image risk: documented as retryable, a new sample may pass
RETRYABLE_RISK = {50511}
RATE_LIMITED = {50429, 50430}  # QPS / concurrency limits: retryable
#: internal error / internal algorithm (RPC) error: documented as not worth a retry
INTERNAL_FINAL = {50500, 50501}
AUTH_CODES = {"SignatureDoesNotMatch", "InvalidAccessKey", "InvalidCredential", "AccessDenied"}

JIMENG_CAPABILITIES = ProviderCapabilities(
    provider="jimeng",
    default_model="jimeng_t2i_v40",
    models={
        "jimeng_t2i_v40": ModelCapabilities(
            name="jimeng_t2i_v40",
            modes=frozenset({Mode.GENERATE}),
            max_reference_images=0,
            seed=False,
            negative_prompt=False,
            price_per_image=0.03,
            description="Jimeng 4.0 text to image (≈ ¥0.2 an image)",
        )
    },
)


MIN_AREA, MAX_AREA = 1024 * 1024, 4096 * 4096
#: the default min_ratio / max_ratio of width / height
MIN_RATIO, MAX_RATIO = 1 / 3, 3.0
#: computed sides are multiples of this (the documented 1K/2K sizes are too)
SIZE_STEP = 16
#: the documented recommended sizes, landscape; portrait ratios take them turned
PRESETS: dict[tuple[Resolution, str], tuple[int, int]] = {
    (Resolution.K1, "1:1"): (1024, 1024),
    (Resolution.K2, "1:1"): (2048, 2048),
    (Resolution.K2, "4:3"): (2304, 1728),
    (Resolution.K2, "3:2"): (2496, 1664),
    (Resolution.K2, "16:9"): (2560, 1440),
    (Resolution.K2, "21:9"): (3024, 1296),
    (Resolution.K4, "1:1"): (4096, 4096),
    (Resolution.K4, "4:3"): (4694, 3520),
    (Resolution.K4, "3:2"): (4992, 3328),
    (Resolution.K4, "16:9"): (5404, 3040),
    (Resolution.K4, "21:9"): (6198, 2656),
}


def size_for(aspect: AspectRatio | None, resolution: Resolution | None) -> tuple[int, int]:
    """Width and height for a ratio at a resolution, within the documented bounds."""
    aspect, resolution = aspect or AspectRatio.R1_1, resolution or Resolution.K2
    width, height = (int(side) for side in aspect.value.split(":"))
    preset = PRESETS.get((resolution, f"{max(width, height)}:{min(width, height)}"))
    if preset is not None:
        return preset if width >= height else (preset[1], preset[0])
    return _computed(aspect.ratio, resolution.long_side**2)


def _computed(ratio: float, area: int) -> tuple[int, int]:
    """The step-aligned size nearest the ratio and area, among those inside the bounds: at 1K
    a wide ratio rounded down would fall under the minimum area (1365×768 < 1024²)."""
    exact_width, exact_height = math.sqrt(area * ratio), math.sqrt(area / ratio)
    candidates = [
        (width, height)
        for width in _steps_around(exact_width)
        for height in _steps_around(exact_height)
        if MIN_AREA <= width * height <= MAX_AREA and MIN_RATIO <= width / height <= MAX_RATIO
    ]
    return min(
        candidates,
        key=lambda size: (
            abs(math.log(size[0] / size[1] / ratio)) + abs(math.log(size[0] * size[1] / area))
        ),
    )


def _steps_around(side: float) -> tuple[int, int]:
    below = int(side) // SIZE_STEP * SIZE_STEP
    return below, below + SIZE_STEP


class JimengProvider:
    name: ClassVar[str] = "jimeng"

    def __init__(
        self,
        api_key: SecretStr | None,
        base_url: str,
        timeout: float,
        poll_seconds: float = 2.0,
        key_limits: KeyLimits | None = None,
    ) -> None:
        self.keys = KeyPool("jimeng", api_key, limits=key_limits)
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._poll = poll_seconds
        self._http = httpx.AsyncClient(timeout=timeout)

    @property
    def capabilities(self) -> ProviderCapabilities:
        return JIMENG_CAPABILITIES

    @property
    def configured(self) -> bool:
        return self.keys.configured

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        # The key is held from the submission to the result: one task, one paced request.
        async with self.keys.lease(request.api_key) as key:
            with network_errors("jimeng"):
                task_id = await self._submit(key, request)
                image = await self._wait(key, request.model, task_id)
        return ProviderResult((ImageBytes(image, "image/jpeg"),), request_id=task_id)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _submit(self, key: str, request: ProviderRequest) -> str:
        width, height = size_for(request.asked.aspect_ratio, request.asked.resolution)
        body = {
            "req_key": request.model,
            "prompt": request.asked.prompt,
            "width": width,
            "height": height,
            "force_single": True,
        }
        payload = await self._call(key, "CVSync2AsyncSubmitTask", body)
        return str(payload["data"]["task_id"])

    async def _wait(self, key: str, model: str, task_id: str) -> bytes:
        req_json = json.dumps({"return_url": False, "logo_info": {"add_logo": False}})
        body = {"req_key": model, "task_id": task_id, "req_json": req_json}
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            data = (await self._call(key, "CVSync2AsyncGetResult", body)).get("data") or {}
            status = data.get("status")
            if status == "done":
                return _image(data, task_id)
            if status in ("not_found", "expired"):
                raise ProviderUnavailable(f"jimeng: task {task_id} is {status}")
            await asyncio.sleep(self._poll)
        raise ProviderTimeout(f"jimeng: task {task_id} did not finish in {self._timeout:.0f} s")

    async def _call(self, key: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        content = json.dumps(body, ensure_ascii=False)
        query = {"Action": action, "Version": VERSION}
        headers = sign(key, self._base_url, query, content)
        response = await self._http.post(
            self._base_url + "/", params=query, content=content.encode(), headers=headers
        )
        payload = _json(response)
        code = payload.get("code")
        if response.status_code != 200 or code != OK:
            raise translate(response.status_code, payload)
        return payload


def sign(key: str, base_url: str, query: dict[str, str], body: str) -> dict[str, str]:
    """Headers (X-Date, X-Content-Sha256, Authorization…) from the official signer."""
    access, _, secret = key.partition(":")
    if not secret:
        raise AuthFailed("jimeng: the key must be ACCESS_KEY_ID:SECRET_ACCESS_KEY")
    request = VolcRequest()
    request.set_method("POST")
    request.set_path("/")
    request.set_host(urlsplit(base_url).netloc)
    request.set_query(query)
    request.set_headers({"Content-Type": "application/json", "Host": urlsplit(base_url).netloc})
    request.set_body(body)
    SignerV4.sign(request, Credentials(access, secret, "cv", "cn-north-1"))
    return {k: v for k, v in request.headers.items() if k != "Host"}


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        raise ProviderUnavailable(
            f"jimeng: malformed response (HTTP {response.status_code})"
        ) from None
    return payload if isinstance(payload, dict) else {}


def _image(data: dict[str, Any], task_id: str) -> bytes:
    images = data.get("binary_data_base64") or []
    try:
        return base64.b64decode(images[0], validate=True)
    except (IndexError, binascii.Error, ValueError, TypeError):
        raise ProviderUnavailable(f"jimeng: task {task_id} finished without an image") from None


def translate(status: int, payload: dict[str, Any]) -> ProviderError:
    gateway = (payload.get("ResponseMetadata") or {}).get("Error") or {}
    if gateway:
        text = f"jimeng {status} {gateway.get('Code')}: {gateway.get('Message', '')}"
        if gateway.get("Code") in AUTH_CODES:
            return AuthFailed(text)
        if status == 429:
            return RateLimited(text)
        return ProviderUnavailable(text) if status >= 500 else InvalidRequest(text)
    code = payload.get("code")
    text = f"jimeng {status} {code}: {payload.get('message', '')}"
    request_id = payload.get("request_id")
    if code in REJECTED:
        return ContentRejected(text, request_id=request_id)
    if code in RATE_LIMITED or status == 429:
        return RateLimited(text, request_id=request_id)
    if code in INTERNAL_FINAL:
        return FinalError(
            f"{text} (Jimeng documents this error as not worth a retry)", request_id=request_id
        )
    if code in RETRYABLE_RISK or status >= 500:
        return ProviderUnavailable(text, request_id=request_id)
    return InvalidRequest(text, request_id=request_id)
