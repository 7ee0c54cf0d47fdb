"""Fake Gemini API: POST /v1beta/models/{model}:generateContent, as the REST API behaves —
camelCase or snake_case requests, camelCase answers, failures reported as HTTP 200; plus
Batch Mode (tests/fakes/gemini_batch.py, as `fake.batches`)."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

from PIL import Image

from tests.fakes.gemini_batch import GeminiBatches
from tests.fakes.server import FakeServer, Reply, Request

RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
SIZES = {"1K", "2K", "4K"}
PATH = re.compile(r"/v1beta/models/([\w.-]+):generateContent")


def error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> Reply:
    body: dict[str, Any] = {"error": {"code": code, "message": message, "status": status}}
    if details:
        body["error"]["details"] = details
    return Reply(code, body)


def resource_exhausted(
    delay: str = "12.771204034s", quota: str = "GenerateRequestsPerMinutePerProjectPerModel"
) -> Reply:
    return error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": quota}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
        ],
    )


def overloaded() -> Reply:
    return error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


def bad_key() -> Reply:
    return error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ],
    )


def prompt_blocked() -> Reply:
    return Reply(
        200,
        {
            "promptFeedback": {
                "blockReason": "PROHIBITED_CONTENT",
                "safetyRatings": [
                    {
                        "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                        "probability": "HIGH",
                        "blocked": True,
                    }
                ],
            },
            "usageMetadata": {"promptTokenCount": 638, "totalTokenCount": 638},
            "modelVersion": "gemini-2.5-flash-image",
        },
    )


def image_safety() -> Reply:
    return Reply(
        200,
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": "I can't create that."}]},
                    "finishReason": "IMAGE_SAFETY",
                }
            ]
        },
    )


def text_only() -> Reply:
    return Reply(
        200,
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": "Here you go!"}]},
                    "finishReason": "STOP",
                }
            ]
        },
    )


def malformed() -> Reply:
    return Reply(200, b'{"candidates": [{"content": ', {"Content-Type": "application/json"})


class FakeGemini(FakeServer):
    def __init__(self, api_key: str = "gemini-test-key-0000", thinking: bool = False) -> None:
        super().__init__()
        self.api_key = api_key
        #: answer like Gemini 3: an interim "thought" image before the final one
        self.thinking = thinking
        self.batches = GeminiBatches(self.generate)

    def too_many(self, retry_after: float) -> Reply:
        return resource_exhausted(f"{retry_after}s")

    def handle(self, request: Request) -> Reply:
        if request.headers.get("x-goog-api-key") not in self.api_key.split(","):
            return bad_key()
        batch_reply = self.batches.handle(request)
        if batch_reply is not None:
            return batch_reply
        match = PATH.fullmatch(request.path.split("?")[0])
        if match is None or request.method != "POST":
            return error(404, "NOT_FOUND", f"Unknown path {request.path}")
        return self.generate(match.group(1), request.json())

    def generate(self, model: str, body: dict[str, Any]) -> Reply:
        """One generateContent answer (also each request of a batch job)."""
        problem = _invalid(body)
        if problem:
            return error(400, "INVALID_ARGUMENT", problem)
        config = _get(body, "generationConfig", "generation_config") or {}
        image_config = _get(config, "imageConfig", "image_config") or {}
        size = _pixels(image_config)
        parts: list[dict[str, Any]] = [{"text": "Here is your image: "}]
        if self.thinking:
            parts.append(
                {"inlineData": {"mimeType": "image/png", "data": _png((64, 64))}, "thought": True}
            )
        parts.append({"inlineData": {"mimeType": "image/png", "data": _png(size)}})
        return Reply(
            200,
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": parts},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 17,
                    "candidatesTokenCount": 1290,
                    "totalTokenCount": 1307,
                },
                "modelVersion": model,
                "responseId": "fake-response-1",
            },
        )


def _get(body: dict[str, Any], camel: str, snake: str) -> Any:
    return body.get(camel, body.get(snake))


def _invalid(body: dict[str, Any]) -> str | None:
    contents = body.get("contents") or []
    parts = [p for c in contents for p in c.get("parts", [])]
    if not any(p.get("text") for p in parts):
        return "* GenerateContentRequest.contents: contents is not specified"
    for part in parts:
        inline = _get(part, "inlineData", "inline_data")
        if inline is not None:
            if not _is_base64(inline.get("data", "")):
                return "Invalid value at 'contents[0].parts[1].inline_data.data' (TYPE_BYTES)"
            if not _get(inline, "mimeType", "mime_type"):
                return "inline data needs a mime type"
    config = _get(body, "generationConfig", "generation_config") or {}
    image = _get(config, "imageConfig", "image_config") or {}
    ratio, size = _get(image, "aspectRatio", "aspect_ratio"), _get(image, "imageSize", "image_size")
    if ratio is not None and ratio not in RATIOS:
        return f"Unsupported aspect ratio: {ratio}"
    if size is not None and size not in SIZES:  # "1k" is rejected: uppercase K only
        return f"Invalid image size: {size}"
    return None


def _is_base64(text: str) -> bool:
    """Proto JSON bytes: standard or URL-safe base64, with or without padding."""
    try:
        padded = text + "=" * (-len(text) % 4)
        altchars = b"-_" if ("-" in text or "_" in text) else None
        base64.b64decode(padded, altchars=altchars, validate=True)
    except ValueError:
        return False
    return True


def _pixels(image_config: dict[str, Any]) -> tuple[int, int]:
    ratio = _get(image_config, "aspectRatio", "aspect_ratio") or "1:1"
    long_side = {"1K": 1024, "2K": 2048, "4K": 4096}[
        _get(image_config, "imageSize", "image_size") or "1K"
    ]
    w, h = (int(v) for v in ratio.split(":"))
    return (long_side, long_side * h // w) if w >= h else (long_side * w // h, long_side)


def _png(size: tuple[int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size[0] // 32, size[1] // 32), (240, 200, 0)).resize(size).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()
