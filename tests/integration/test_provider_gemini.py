"""The Gemini provider (plain HTTP, the SDK's wire) against a wire-faithful fake on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime

import httpx2
import pytest
from PIL import Image
from pydantic import SecretStr

from imagebatch.domain.capabilities import check_spec
from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.errors import (
    AuthFailed,
    ContentRejected,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import ImageBytes, ProviderRequest
from imagebatch.providers.gemini import (
    QUOTA_RESET_ZONE,
    GeminiProvider,
    seconds_until_quota_reset,
)
from imagebatch.providers.gemini_batch import config_of, contents_of
from tests.fakes import gemini as fake_api
from tests.fakes.gemini import FakeGemini
from tests.fakes.server import Reply
from tests.flat_requests import provider_request, task_spec

KEY = "gemini-test-key-0000"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(KEY) as server:
        yield server


def provider(fake: FakeGemini, key: str = KEY, timeout: float = 10.0) -> GeminiProvider:
    return GeminiProvider(SecretStr(key), fake.url, timeout)


def request(**fields: object) -> ProviderRequest:
    values: dict[str, object] = {
        "mode": Mode.GENERATE,
        "model": "gemini-3-pro-image-preview",
        "prompt": "a nano banana",
    }
    return provider_request(**{**values, **fields})  # type: ignore[arg-type]


def jpeg() -> ImageBytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "navy").save(buffer, "JPEG")
    return ImageBytes(buffer.getvalue(), "image/jpeg")


async def test_text_to_image_maps_ratio_and_size(fake: FakeGemini) -> None:
    client = provider(fake)
    result = await client.generate(
        request(aspect_ratio=AspectRatio.R16_9, resolution=Resolution.K2, seed=5)
    )
    await client.aclose()
    [sent] = fake.requests
    assert sent.path == "/v1beta/models/gemini-3-pro-image-preview:generateContent"
    config = sent.json()["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert config["responseModalities"] == ["IMAGE"] and config["seed"] == 5
    assert probe_output(result.images[0].data) == ("image/png", 2048, 1152)
    assert result.request_id == "fake-response-1"


async def test_1k_sends_no_size_for_models_without_sizes(fake: FakeGemini) -> None:
    client = provider(fake)
    await client.generate(request(model="gemini-2.5-flash-image", resolution=Resolution.K1))
    await client.aclose()
    assert "imageSize" not in fake.requests[0].json()["generationConfig"].get("imageConfig", {})


async def test_images_go_inline_after_the_prompt(fake: FakeGemini) -> None:
    client = provider(fake)
    await client.generate(request(mode=Mode.EDIT, images=(jpeg(), jpeg())))
    await client.aclose()
    parts = fake.requests[0].json()["contents"][0]["parts"]
    assert parts[0] == {"text": "a nano banana"}
    inline = [p.get("inlineData", p.get("inline_data")) for p in parts[1:]]  # either case is valid
    assert [i.get("mimeType", i.get("mime_type")) for i in inline] == ["image/jpeg", "image/jpeg"]


async def test_thought_images_are_skipped() -> None:
    with FakeGemini(KEY, thinking=True) as fake:
        client = provider(fake)
        result = await client.generate(request(resolution=Resolution.K1))
        await client.aclose()
    assert probe_output(result.images[0].data)[1:] == (1024, 1024)  # not the 64² thought


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (fake_api.prompt_blocked(), ContentRejected, "blocked the prompt (PROHIBITED_CONTENT)"),
        (fake_api.image_safety(), ContentRejected, "IMAGE_SAFETY"),
        (fake_api.text_only(), ProviderUnavailable, 'no image (STOP): "Here you go!"'),
        (fake_api.overloaded(), ProviderUnavailable, "overloaded"),
        (fake_api.error(400, "INVALID_ARGUMENT", "Invalid image size: 1k"), InvalidRequest, "1k"),
        (fake_api.malformed(), ProviderUnavailable, "malformed"),
    ],
)
async def test_failures_are_classified(
    fake: FakeGemini, reply: Reply, error: type[ProviderError], message: str
) -> None:
    fake.fail_next(reply)
    client = provider(fake)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        await client.generate(request())
    await client.aclose()
    assert len(fake.requests) == 1  # no SDK retries


async def test_429_delay_comes_from_retry_info(fake: FakeGemini) -> None:
    fake.fail_next(fake_api.resource_exhausted("7.5s"))
    client = provider(fake)
    with pytest.raises(RateLimited) as caught:
        await client.generate(request())
    await client.aclose()
    assert caught.value.retry_after == 7.5


async def test_daily_quota_waits_for_the_reset(fake: FakeGemini) -> None:
    fake.fail_next(fake_api.resource_exhausted("3s", "GenerateRequestsPerDayPerProjectPerModel"))
    client = provider(fake)
    with pytest.raises(RateLimited) as caught:
        await client.generate(request())
    await client.aclose()
    assert (caught.value.retry_after or 0) > 3


def test_quota_reset_is_midnight_in_california() -> None:
    at_23h = datetime(2026, 3, 1, 23, 0, tzinfo=QUOTA_RESET_ZONE)
    assert seconds_until_quota_reset(at_23h) == 3600


async def test_bad_key_is_final_and_not_shown(fake: FakeGemini) -> None:
    secret = "AIza-wrong-key-must-not-leak-4321"
    client = provider(fake, key=secret)
    with pytest.raises(AuthFailed) as caught:
        await client.generate(request())
    await client.aclose()
    assert secret not in str(caught.value)
    assert client.keys.active() == []


async def test_timeout_is_retryable(fake: FakeGemini) -> None:
    fake.fail_next(Reply(200, {}, delay=1.5))
    client = provider(fake, timeout=0.3)
    with pytest.raises(ProviderTimeout):
        await client.generate(request())
    await client.aclose()


def test_negative_prompts_and_big_sizes_are_refused_where_unsupported() -> None:
    caps = GeminiProvider(SecretStr(KEY), "http://x", 1).capabilities
    spec = task_spec("x", negative_prompt="blur", resolution=Resolution.K4, source="row 2")
    flash = [i.problem for i in check_spec(spec, Mode.GENERATE, caps, "gemini-2.5-flash-image")]
    assert any("takes no negative prompt" in p for p in flash)
    assert any("no resolution 4K" in p for p in flash)
    pro = [i.problem for i in check_spec(spec, Mode.GENERATE, caps, "gemini-3-pro-image-preview")]
    assert not any("resolution" in p for p in pro)


async def test_a_spent_daily_quota_rests_that_key_and_the_next_one_works() -> None:
    keys = "gemini-key-one-1111,gemini-key-two-2222"
    with FakeGemini(keys) as fake:
        fake.fail_next(
            fake_api.resource_exhausted("3s", "GenerateRequestsPerDayPerProjectPerModel")
        )
        client = GeminiProvider(SecretStr(keys), fake.url, 10)
        with pytest.raises(RateLimited):
            await client.generate(request())
        for _ in range(3):
            await client.generate(request())
        await client.aclose()
    used = [r.headers["x-goog-api-key"] for r in fake.requests]
    assert used[0] == "gemini-key-one-1111"
    assert used[1:] == ["gemini-key-two-2222"] * 3


async def test_the_request_is_the_one_google_genai_sends(fake: FakeGemini) -> None:
    """Our wire against the SDK's own, for the same request: the SDK stays the reference."""
    from google import genai
    from google.genai import types

    asked = request(
        mode=Mode.EDIT,
        images=(jpeg(),),
        aspect_ratio=AspectRatio.R16_9,
        resolution=Resolution.K2,
        seed=7,
    )
    client = provider(fake)
    await client.generate(asked)
    await client.aclose()
    # on httpx2, as gemini_batch.py runs it (with aiohttp installed the SDK would take that)
    transport = {"transport": httpx2.AsyncHTTPTransport()}
    options = types.HttpOptions(
        base_url=fake.url, api_version="v1beta", async_client_args=transport
    )
    sdk = genai.Client(api_key=KEY, http_options=options)
    await sdk.aio.models.generate_content(
        model=asked.model, contents=contents_of(asked), config=config_of(asked)
    )
    await sdk.aio.aclose()
    ours, theirs = fake.requests
    assert ours.path == theirs.path
    assert ours.headers["x-goog-api-key"] == theirs.headers["x-goog-api-key"] == KEY
    assert ours.json() == theirs.json()


async def test_snake_case_answers_and_url_safe_base64_are_read(fake: FakeGemini) -> None:
    """As some proxies answer: snake_case fields, URL-safe base64 without padding."""
    png = io.BytesIO()
    Image.new("RGB", (7, 5), "red").save(png, "PNG")
    data = base64.urlsafe_b64encode(png.getvalue()).decode().rstrip("=")
    part = {"inline_data": {"mime_type": "image/png", "data": data}}
    candidate = {"content": {"parts": [part]}, "finish_reason": "STOP"}
    fake.fail_next(Reply(200, {"candidates": [candidate], "response_id": "proxied-1"}))
    client = provider(fake)
    result = await client.generate(request())
    await client.aclose()
    assert result.images[0].data == png.getvalue()
    assert result.request_id == "proxied-1"


async def test_an_error_page_that_is_not_json_is_classified_by_status(fake: FakeGemini) -> None:
    fake.fail_next(Reply(502, b"<html>upstream down</html>", {"Content-Type": "text/html"}))
    client = provider(fake)
    with pytest.raises(ProviderUnavailable, match="502 Bad Gateway: <html>upstream down"):
        await client.generate(request())
    await client.aclose()


async def test_an_image_that_is_not_base64_is_a_malformed_answer(fake: FakeGemini) -> None:
    part = {"inlineData": {"mimeType": "image/png", "data": "not*base64!"}}
    fake.fail_next(Reply(200, {"candidates": [{"content": {"parts": [part]}}]}))
    client = provider(fake)
    with pytest.raises(ProviderUnavailable, match="malformed"):
        await client.generate(request())
    await client.aclose()


def test_the_provider_imports_no_sdk_until_a_batch_job_is_touched() -> None:
    """google-genai costs 0.4 s of CPU to import: a run of single calls never imports it."""
    code = (
        "import sys; from imagebatch.providers.gemini_batch import GeminiBatchProvider; "
        "print(sorted(m for m in sys.modules if m.startswith('google.genai')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
