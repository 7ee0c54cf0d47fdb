"""Fake OpenAI Images API: /v1/images/generations (JSON) and /v1/images/edits (multipart),
validated as documented, answered in the API's exact shapes, faults on demand; plus the
Files and Batch APIs for economy mode (tests/fakes/openai_batch.py, as `fake.batches`).

GPT image models answer base64 and refuse `response_format` (400 unknown_parameter, as the
real API does). DALL·E models, and every model once `links_by_default` is set (a LocalAI-style
compatible server), answer with a link unless `response_format=b64_json` is asked for:
`{"created", "data": [{"url", "revised_prompt"}]}` (openai.types.ImagesResponse / Image). The
fake serves the linked image itself under a signed-looking blob path, as Azure blob storage
serves DALL·E's (`/private/org-…/img-….png?st=…&se=…&sig=…`)."""

from __future__ import annotations

import base64
import functools
import io
import itertools
import struct
import time
import zlib
from typing import Any

from PIL import Image

from tests.fakes.openai_batch import OpenAIBatches
from tests.fakes.server import FakeServer, Reply, Request

LINK_PREFIX = "/private/"
SIZES = {"1024x1024", "1536x1024", "1024x1536", "auto"}
CHOICES = {
    "quality": {"low", "medium", "high", "auto"},
    "output_format": {"png", "jpeg", "webp"},
    "background": {"transparent", "opaque", "auto"},
    "response_format": {"url", "b64_json"},
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


def no_image() -> Reply:
    """A well-formed 200 without image data, as LiteLLM-style gateways answer a request their
    upstream filled with nothing (e.g. gpt-image-1 asked for `response_format`)."""
    return Reply(
        200,
        {"created": 1, "data": [], "usage": {"prompt_tokens": 0, "total_tokens": 0}},
        {"x-request-id": "req_empty"},
    )


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
        #: every PNG answered differs (as a real model's do), by a numbered text chunk
        self.distinct_images = False
        self._numbers = itertools.count(1)
        #: a DALL·E-style server: every model answers with links unless asked for base64
        self.links_by_default = False
        #: the images behind the links handed out, by path; all answer 403 once expired
        self.linked: dict[str, bytes] = {}
        self.links_expired = False

    def too_many(self, retry_after: float) -> Reply:
        return rate_limited(retry_after)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def metered(self, request: Request) -> bool:
        return not request.path.startswith(LINK_PREFIX)

    def handle(self, request: Request) -> Reply:
        if request.path.startswith(LINK_PREFIX):
            return self._linked(request.path.split("?", 1)[0])
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
        links = self.links_by_default or str(body.get("model", "")).startswith("dall-e")
        if "response_format" in body and not links:
            return error(
                400,
                "Unknown parameter: 'response_format'.",
                "invalid_request_error",
                "unknown_parameter",
                "response_format",
            )
        problem = _invalid(body)
        if problem:
            return error(400, problem[1], "invalid_request_error", "invalid_value", problem[0])
        if links:
            return self._dalle(body, as_links=body.get("response_format", "url") == "url")
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
                "data": [{"b64_json": self._encoded(fmt, size)} for _ in range(body.get("n", 1))],
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

    def _dalle(self, body: dict[str, Any], as_links: bool) -> Reply:
        """DALL·E's answer: no usage or format fields; each image a link valid for an hour
        (or base64 when asked), with the prompt as the model rewrote it."""
        data = []
        for _ in range(int(body.get("n", 1))):
            encoded = _image("png", body.get("size", "1024x1024"))
            item = {"url": self._link_to(encoded)} if as_links else {"b64_json": encoded.decode()}
            data.append({**item, "revised_prompt": body["prompt"]})
        return Reply(
            200, {"created": int(time.time()), "data": data}, {"x-request-id": "req_dalle"}
        )

    def _link_to(self, encoded: bytes) -> str:
        path = f"{LINK_PREFIX}org-fake/user-fake/img-{next(self._numbers)}.png"
        self.linked[path] = base64.b64decode(encoded)
        query = "st=2025-01-01T00%3A00%3A00Z&se=2025-01-01T01%3A00%3A00Z&sp=r&sig=c2VjcmV0"
        return f"{self.url}{path}?{query}"

    def _linked(self, path: str) -> Reply:
        image = self.linked.get(path)
        if image is None or self.links_expired:
            # Azure blob storage's answer to an expired or unknown SAS link
            xml = (
                b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed'
                b"</Code><Message>Signed expiry time has to be after signed start time"
                b"</Message></Error>"
            )
            return Reply(403, xml, {"Content-Type": "application/xml"})
        return Reply(200, image, {"Content-Type": "image/png"})

    def _encoded(self, fmt: str, size: str) -> str:
        if not (self.distinct_images and fmt == "png"):
            return _image(fmt, size).decode()
        png = base64.b64decode(_image(fmt, size))
        return base64.b64encode(_numbered(png, next(self._numbers))).decode()


def _numbered(png: bytes, number: int) -> bytes:
    """The PNG with a tEXt chunk carrying `number` just before IEND (the last 12 bytes)."""
    data = b"fake-number\0" + str(number).encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data
    chunk += struct.pack(">I", zlib.crc32(chunk[4:]))
    return png[:-12] + chunk + png[-12:]


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
    if body.get("background") == "transparent" and body.get("output_format") == "jpeg":
        # the API refuses the pair at call time (wording representative, not recorded)
        return "background", "Transparent background requires output_format 'png' or 'webp'."
    if not 1 <= int(body.get("n", 1)) <= 10:
        return "n", "n must be between 1 and 10."
    return None


@functools.lru_cache(maxsize=32)
def _image(fmt: str, size: str) -> bytes:
    """Base64 of a plain image (made once per format and size: it takes ~25 ms)."""
    width, height = (int(v) for v in size.split("x"))
    buffer = io.BytesIO()
    Image.new("RGB", (width // 16, height // 16), (20, 120, 200)).resize((width, height)).save(
        buffer, {"jpeg": "JPEG", "webp": "WEBP"}.get(fmt, "PNG")
    )
    return base64.b64encode(buffer.getvalue())
