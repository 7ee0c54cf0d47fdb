"""Fake Volcengine Ark images API: POST /api/v3/images/generations with a Bearer key."""

from __future__ import annotations

import base64
import io
import re
import time
from typing import Any

from PIL import Image

from tests.fakes.server import FakeServer, Reply, Request

MODELS = {"doubao-seedream-4-0-250828", "doubao-seedream-4-5-251128"}
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


class FakeSeedream(FakeServer):
    def __init__(self, api_key: str = "ark-test-key-0000") -> None:
        super().__init__()
        self.api_key = api_key

    def too_many(self, retry_after: float) -> Reply:
        return rate_limited(retry_after)

    def handle(self, request: Request) -> Reply:
        if request.path != "/api/v3/images/generations":
            return error(404, "InvalidEndpointOrModel.NotFound", "not found", "NotFound")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return error(
                401,
                "AuthenticationError",
                "The API key in the request is missing or invalid.",
                "Unauthorized",
            )
        body = request.json()
        problem = _invalid(body)
        if problem:
            return error(400, "InvalidParameter", problem)
        width, height = (int(v) for v in SIZE.fullmatch(body["size"]).groups())  # type: ignore[union-attr]
        return Reply(
            200,
            {
                "model": body["model"],
                "created": int(time.time()),
                "data": [{"b64_json": _jpeg(width, height), "size": body["size"]}],
                "usage": {
                    "generated_images": 1,
                    "output_tokens": width * height // 256,
                    "total_tokens": width * height // 256,
                },
            },
        )


def _invalid(body: dict[str, Any]) -> str | None:
    if body.get("model") not in MODELS:
        return f"The specified model {body.get('model')!r} does not exist."
    if not body.get("prompt"):
        return "The parameter `prompt` specified in the request are not valid."
    match = SIZE.fullmatch(str(body.get("size", "")))
    if match is None and body.get("size") not in ("1K", "2K", "4K"):
        return "The parameter `size` specified in the request are not valid."
    if match:
        area = int(match.group(1)) * int(match.group(2))
        low = 3_686_400 if "4-5" in body["model"] else 921_600
        if not low <= area <= 16_777_216:
            return f"The parameter `size` is out of range: {area} pixels."
    images = body.get("image", [])
    for image in images if isinstance(images, list) else [images]:
        if not re.match(r"data:image/(png|jpeg|webp);base64,", image):
            return "The parameter `image` specified in the request are not valid."
    return None


def _jpeg(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 90)).resize((width, height)).save(buffer, "JPEG", quality=50)
    return base64.b64encode(buffer.getvalue()).decode()
