"""Fake Volcengine Ark images API: POST /api/v3/images/generations with a Bearer key.

With `response_format=url` the image is served by the same loopback server, as a TOS-like
signed link (GET /results/NAME.jpeg?X-Tos-…); `fail_next_download()` queues faults for those
downloads: an expired link (403), a slow answer, an oversized body, a redirect loop.
`endpoints` maps the account's endpoint ids (`ep-…`) to the model each serves; each model
takes only the reference image formats it lists (4.0: JPEG and PNG).
"""

from __future__ import annotations

import base64
import io
import itertools
import re
import time
from collections import deque
from typing import Any

from PIL import Image

from tests.fakes.server import FakeServer, Reply, Request

#: each model and the reference image formats it lists
MODELS = {
    "doubao-seedream-4-0-250828": ("jpeg", "png"),
    "doubao-seedream-4-5-251128": ("jpeg", "png", "webp", "bmp", "tiff", "gif"),
}
#: the query of a TOS presigned link, as Ark's result URLs carry it
SIGNED = (
    "X-Tos-Algorithm=TOS4-HMAC-SHA256&X-Tos-Credential=AKLTfake%2F20261124%2Fcn-beijing%2Ftos"
    "%2Frequest&X-Tos-Date=20261124T000000Z&X-Tos-Expires=86400&X-Tos-Signature=5ec7e7"
    "&X-Tos-SignedHeaders=host"
)
SIZE = re.compile(r"(\d+)x(\d+)")


def error(
    status: int,
    code: str,
    message: str,
    kind: str = "BadRequest",
    headers: dict[str, str] | None = None,
) -> Reply:
    body = {"error": {"code": code, "message": message, "param": "", "type": kind}}
    return Reply(status, body, {"x-request-id": "0217-fake", **(headers or {})})


def sensitive_input() -> Reply:
    return error(
        400,
        "InputTextSensitiveContentDetected",
        "The request failed because the input text may contain sensitive information.",
    )


def rate_limited(retry_after: float | None = None) -> Reply:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return error(
        429,
        "RateLimitExceeded.EndpointRPMExceeded",
        "Too many requests.",
        "TooManyRequests",
        headers,
    )


def quota_exceeded() -> Reply:
    return error(429, "QuotaExceeded", "Your account quota is used up.", "TooManyRequests")


def internal() -> Reply:
    return error(
        500,
        "InternalServiceError",
        "The service encountered an unexpected internal error.",
        "InternalServerError",
    )


def failed_item() -> Reply:
    """HTTP 200, but the image failed moderation: Ark puts the error inside data[]."""
    return Reply(
        200,
        {
            "model": "doubao-seedream-4-0-250828",
            "created": int(time.time()),
            "data": [
                {
                    "error": {
                        "code": "OutputImageSensitiveContentDetected",
                        "message": "The output image may contain sensitive information.",
                    }
                }
            ],
            "usage": {"generated_images": 0, "output_tokens": 0, "total_tokens": 0},
        },
    )


def whole_call_failed(code: str, message: str) -> Reply:
    """HTTP 200 whose body is the SDK's ImagesResponse with its top-level `error` and no image."""
    return Reply(
        200,
        {
            "model": "doubao-seedream-4-0-250828",
            "created": int(time.time()),
            "data": [],
            "error": {"code": code, "message": message},
            "usage": {"generated_images": 0, "output_tokens": 0, "total_tokens": 0},
        },
        {"x-request-id": "0217-fake"},
    )


def expired() -> Reply:
    """TOS's answer to a signed link past its X-Tos-Expires."""
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
        b"<Message>Request has expired</Message><RequestId>fake</RequestId></Error>"
    )
    return Reply(403, xml, {"Content-Type": "application/xml"})


def slow(seconds: float) -> Reply:
    return Reply(200, b"\xff\xd8 too late", {"Content-Type": "image/jpeg"}, delay=seconds)


def oversize(size: int) -> Reply:
    return Reply(200, b"\0" * size, {"Content-Type": "image/jpeg"})


def redirect_loop() -> Reply:
    return Reply(302, b"", {"Location": "/results/loop.jpeg"})


class FakeSeedream(FakeServer):
    """`api_key`: the key it accepts, or several separated by commas."""

    def __init__(self, api_key: str = "ark-test-key-0000") -> None:
        super().__init__()
        self.api_key = api_key
        #: images behind the result links, by name
        self.results: dict[str, bytes] = {}
        self.download_faults: deque[Reply] = deque()
        #: the account's endpoint ids and the model behind each
        self.endpoints: dict[str, str] = {}
        self._names = itertools.count(1)

    @property
    def downloads(self) -> list[Request]:
        return [r for r in self.requests if not self.metered(r)]

    def fail_next_download(self, *replies: Reply) -> None:
        self.download_faults.extend(replies)

    def metered(self, request: Request) -> bool:
        return not request.path.startswith("/results/")

    def too_many(self, retry_after: float) -> Reply:
        return rate_limited(retry_after)

    def handle(self, request: Request) -> Reply:
        if request.method == "GET" and not self.metered(request):
            return self._download(request.path.split("?")[0].removeprefix("/results/"))
        if request.path != "/api/v3/images/generations":
            return error(404, "InvalidEndpointOrModel.NotFound", "not found", "NotFound")
        if self.api_key_of(request) not in self.api_key.split(","):
            return error(
                401,
                "AuthenticationError",
                "The API key in the request is missing or invalid.",
                "Unauthorized",
            )
        body = request.json()
        model = self.endpoints.get(body.get("model"), body.get("model"))
        if model not in MODELS:
            return error(
                404,
                "InvalidEndpointOrModel.NotFound",
                f"The model or endpoint {body.get('model')} does not exist or you do not have "
                "access to it.",
                "NotFound",
            )
        problem = _invalid({**body, "model": model})
        if problem:
            return error(400, "InvalidParameter", problem)
        width, height = (int(v) for v in SIZE.fullmatch(body["size"]).groups())  # type: ignore[union-attr]
        image = _jpeg(width, height)
        item = {"b64_json": base64.b64encode(image).decode(), "size": body["size"]}
        if body.get("response_format", "url") == "url":
            name = f"{next(self._names):04d}.jpeg"
            self.results[name] = image
            item = {"url": f"{self.url}/results/{name}?{SIGNED}", "size": body["size"]}
        return Reply(
            200,
            {
                "model": model,
                "created": int(time.time()),
                "data": [item],
                "usage": {
                    "generated_images": 1,
                    "output_tokens": width * height // 256,
                    "total_tokens": width * height // 256,
                },
            },
        )

    def _download(self, name: str) -> Reply:
        if self.download_faults:
            return self.download_faults.popleft()
        if name == "loop.jpeg":
            return redirect_loop()
        if name not in self.results:
            xml = b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
            return Reply(404, xml + b"</Message></Error>", {"Content-Type": "application/xml"})
        return Reply(200, self.results[name], {"Content-Type": "image/jpeg"})


def _invalid(body: dict[str, Any]) -> str | None:
    if not body.get("prompt"):
        return "The parameter `prompt` specified in the request are not valid."
    match = SIZE.fullmatch(str(body.get("size", "")))
    if body.get("response_format", "url") not in ("url", "b64_json"):
        return "The parameter `response_format` specified in the request are not valid."
    if match is None and body.get("size") not in ("1K", "2K", "4K"):
        return "The parameter `size` specified in the request are not valid."
    if match:
        area = int(match.group(1)) * int(match.group(2))
        low = 3_686_400 if "4-5" in body["model"] else 921_600
        if not low <= area <= 16_777_216:
            return f"The parameter `size` is out of range: {area} pixels."
    images = body.get("image", [])
    formats = "|".join(MODELS[body["model"]])
    for image in images if isinstance(images, list) else [images]:
        if not re.match(rf"data:image/({formats});base64,", image):
            return "The parameter `image` specified in the request are not valid."
    return None


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 90)).resize((width, height)).save(buffer, "JPEG", quality=50)
    return buffer.getvalue()
