"""Fake OpenAI Images API: /v1/images/generations (JSON) and /v1/images/edits (multipart),
validated as documented, answered in the API's exact shapes, faults on demand; plus the
Files and Batch APIs for economy mode (tests/fakes/openai_batch.py, as `fake.batches`)."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

from PIL import Image

from tests.fakes.openai_batch import OpenAIBatches
from tests.fakes.server import FakeServer, Reply, Request

SIZES = {"1024x1024", "1536x1024", "1024x1536", "auto"}
CHOICES = {
    "quality": {"low", "medium", "high", "auto"},
    "output_format": {"png", "jpeg", "webp"},
    "background": {"transparent", "opaque", "auto"},
}


def error(
    status: int,
    message: str,
    kind: str,
    code: str | None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Reply:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code, **extra}}
    return Reply(status, body, headers or {"x-request-id": "req_fake_error"})


def rate_limited(retry_after: float = 1.0) -> Reply:
    return error(
        429,
        "Rate limit reached for gpt-image-1 in organization org-x on images per minute (IPM): "
        "Limit 5, Used 5, Requested 1. Please try again in 12s.",
        "requests",
        "rate_limit_exceeded",
        headers={"retry-after": str(retry_after), "x-ratelimit-remaining-requests": "0"},
    )


def insufficient_quota() -> Reply:
    return error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    )


def moderation_blocked() -> Reply:
    return error(
        400,
        "Your request was rejected by the safety system.",
        "image_generation_user_error",
        "moderation_blocked",
        moderation_details={"moderation_stage": "output", "categories": ["other"]},
    )


def server_error(status: int = 500) -> Reply:
    return error(
        status, "The server had an error while processing your request.", "server_error", None
    )


def malformed_json() -> Reply:
    return Reply(200, b'{"created": 1, "data": [', {"Content-Type": "application/json"})


def truncated_base64() -> Reply:
    return Reply(
        200, {"created": 1, "data": [{"b64_json": _image("png", "1024x1024")[:-40].decode()}]}
    )


class FakeOpenAI(FakeServer):
    """`api_key`: the key it accepts, or several separated by commas."""

    def __init__(self, api_key: str = "sk-test-key-0000") -> None:
        super().__init__()
        self.api_key = api_key
        self.batches = OpenAIBatches(self._answer, error)

    def too_many(self, retry_after: float) -> Reply:
        return rate_limited(retry_after)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def handle(self, request: Request) -> Reply:
        if self.api_key_of(request) not in self.api_key.split(","):
            shown = request.headers.get("authorization", "")[-4:]
            return error(
                401,
                f"Incorrect API key provided: sk-...{shown}.",
                "invalid_request_error",
                "invalid_api_key",
            )
        batch_reply = self.batches.handle(request)
        if batch_reply is not None:
            return batch_reply
        if request.path == "/v1/images/generations":
            return self._answer(request.json())
        if request.path == "/v1/images/edits":
            return self._edit(request)
        return error(
            404, f"Unknown request URL: POST {request.path}.", "invalid_request_error", None
        )

    def _edit(self, request: Request) -> Reply:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return error(400, "Edits take multipart/form-data.", "invalid_request_error", None)
        fields: dict[str, Any] = {}
        images = 0
        for name, filename, content in request.form():
            if name in ("image", "image[]") and filename:
                Image.open(io.BytesIO(content)).verify()
                images += 1
            else:
                fields[name] = content.decode()
        if not images:
            return error(
                400, "Missing required parameter: 'image'.", "invalid_request_error", None, "image"
            )
        fields["n"] = int(fields.get("n", 1))
        return self._answer(fields)

    def _answer(self, body: dict[str, Any]) -> Reply:
        problem = _invalid(body)
        if problem:
            return error(400, problem[1], "invalid_request_error", "invalid_value", problem[0])
        fmt = body.get("output_format", "png")
        size = body.get("size", "1024x1024")
        size = "1024x1024" if size == "auto" else size
        return Reply(
            200,
            {
                "created": int(time.time()),
                "background": body.get("background", "opaque"),
                "output_format": fmt,
                "quality": body.get("quality", "medium"),
                "size": size,
                "data": [{"b64_json": _image(fmt, size).decode()} for _ in range(body.get("n", 1))],
                "usage": {
                    "input_tokens": 10,
                    "output_tokens": 1056,
                    "total_tokens": 1066,
                    "input_tokens_details": {"image_tokens": 0, "text_tokens": 10},
                    "output_tokens_details": {"image_tokens": 1056, "text_tokens": 0},
                },
            },
            {"x-request-id": "req_fake_ok"},
        )


def _invalid(body: dict[str, Any]) -> tuple[str, str] | None:
    if not body.get("model"):
        return "model", "Missing required parameter: 'model'."
    if not body.get("prompt"):
        return "prompt", "Missing required parameter: 'prompt'."
    if body.get("size", "1024x1024") not in SIZES:
        return (
            "size",
            f"Invalid value: '{body.get('size')}'. Supported values are: {sorted(SIZES)}.",
        )
    for name, allowed in CHOICES.items():
        if name in body and body[name] not in allowed:
            return name, f"Invalid value: '{body[name]}'."
    if not 1 <= int(body.get("n", 1)) <= 10:
        return "n", "n must be between 1 and 10."
    return None


def _image(fmt: str, size: str) -> bytes:
    width, height = (int(v) for v in size.split("x"))
    buffer = io.BytesIO()
    Image.new("RGB", (width // 16, height // 16), (20, 120, 200)).resize((width, height)).save(
        buffer, {"jpeg": "JPEG", "webp": "WEBP"}.get(fmt, "PNG")
    )
    return base64.b64encode(buffer.getvalue())
