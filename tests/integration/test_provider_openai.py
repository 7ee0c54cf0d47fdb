"""The OpenAI provider through the official SDK against a wire-faithful fake on 127.0.0.1."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from PIL import Image
from pydantic import SecretStr

from imagebatch.domain.capabilities import check_spec
from imagebatch.domain.specs import AspectRatio, Mode, Resolution
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
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import ImageBytes, ProviderRequest
from imagebatch.providers.openai_images import OpenAIImagesProvider
from tests.fakes import openai_images as fake_api
from tests.fakes.openai_images import FakeOpenAI
from tests.fakes.server import Reply
from tests.flat_requests import provider_request, task_spec

KEY = "sk-test-key-0000"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(KEY) as server:
        yield server


def provider(fake: FakeOpenAI, key: str = KEY, timeout: float = 10.0) -> OpenAIImagesProvider:
    return OpenAIImagesProvider(SecretStr(key), fake.base_url, timeout)


def png(color: str = "red") -> ImageBytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buffer, "PNG")
    return ImageBytes(buffer.getvalue(), "image/png")


def request(**fields: object) -> ProviderRequest:
    values: dict[str, object] = {"mode": Mode.GENERATE, "model": "gpt-image-1", "prompt": "a fox"}
    return provider_request(**{**values, **fields})  # type: ignore[arg-type]


async def test_text_to_image_maps_parameters(fake: FakeOpenAI) -> None:
    client = provider(fake)
    result = await client.generate(
        request(aspect_ratio=AspectRatio.R3_2, params={"quality": "high", "output_format": "jpeg"})
    )
    await client.aclose()
    [sent] = fake.requests
    assert sent.path == "/v1/images/generations"
    assert sent.json() == {
        "model": "gpt-image-1",
        "prompt": "a fox",
        "n": 1,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "jpeg",
    }
    image = result.images[0]
    assert image.mime == "image/jpeg" and probe_output(image.data) == ("image/jpeg", 1536, 1024)
    assert result.request_id == "req_fake_ok"


async def test_edit_sends_every_image_as_multipart(fake: FakeOpenAI) -> None:
    client = provider(fake)
    result = await client.generate(
        request(mode=Mode.EDIT, prompt="make it blue", images=(png(), png("green")))
    )
    await client.aclose()
    [sent] = fake.requests
    assert sent.path == "/v1/images/edits"
    parts = sent.form()
    assert [name for name, filename, _ in parts if filename] == ["image[]", "image[]"]
    fields = {name: value.decode() for name, filename, value in parts if not filename}
    assert fields["prompt"] == "make it blue" and fields["model"] == "gpt-image-1"
    assert fields["size"] == "1024x1024"
    assert probe_output(result.images[0].data)[0] == "image/png"


async def test_a_single_edit_image_goes_as_image_like_the_sdk_sends_it(fake: FakeOpenAI) -> None:
    # openai-python sends a lone file as `image` and a list as `image[]`; many compatible
    # servers read only `image`
    client = provider(fake)
    await client.generate(request(mode=Mode.EDIT, prompt="make it blue", images=(png(),)))
    await client.aclose()
    [sent] = fake.requests
    assert [name for name, filename, _ in sent.form() if filename] == ["image"]


def test_a_transparent_jpeg_is_refused_before_spending() -> None:
    caps = OpenAIImagesProvider(SecretStr(KEY), "http://x/v1", 1).capabilities
    params = {"background": "transparent", "output_format": "jpeg"}
    spec = task_spec("x", params=params, source="row 4")
    [issue] = check_spec(spec, Mode.GENERATE, caps, None)
    assert issue.where == "row 4"
    assert "background=transparent with output_format=jpeg" in issue.problem
    assert "png or webp" in issue.hint
    for fine in ({"background": "transparent"}, {**params, "output_format": "png"}):
        assert check_spec(task_spec("x", params=fine), Mode.GENERATE, caps, None) == []


async def test_the_fake_refuses_a_transparent_jpeg_as_the_api_does(fake: FakeOpenAI) -> None:
    client = provider(fake)
    with pytest.raises(InvalidRequest, match="Transparent background"):
        await client.generate(
            request(params={"background": "transparent", "output_format": "jpeg"})
        )
    await client.aclose()


def test_gpt_image_models_take_no_response_format() -> None:
    # the API answers 400 unknown_parameter: refused at submission instead
    caps = OpenAIImagesProvider(SecretStr(KEY), "http://x/v1", 1).capabilities
    spec = task_spec("x", params={"response_format": "url"})
    [issue] = check_spec(spec, Mode.GENERATE, caps, None)
    assert "no parameter 'response_format'" in issue.problem


@pytest.mark.parametrize(
    ("reply", "error", "retry_after"),
    [
        (fake_api.rate_limited(3), RateLimited, 3.0),
        (fake_api.insufficient_quota(), QuotaExhausted, None),
        (fake_api.moderation_blocked(), ContentRejected, None),
        (fake_api.server_error(500), ProviderUnavailable, None),
        (fake_api.server_error(503), ProviderUnavailable, None),
        (
            fake_api.error(400, "Invalid size", "invalid_request_error", "invalid_value", "size"),
            InvalidRequest,
            None,
        ),
        (fake_api.malformed_json(), ProviderUnavailable, None),
    ],
)
async def test_faults_are_classified(
    fake: FakeOpenAI, reply: Reply, error: type[ProviderError], retry_after: float | None
) -> None:
    fake.fail_next(reply)
    client = provider(fake)
    with pytest.raises(error) as caught:
        await client.generate(request())
    await client.aclose()
    assert len(fake.requests) == 1  # the SDK did not retry behind the engine's back
    if retry_after is not None:
        assert caught.value.retry_after == retry_after  # type: ignore[attr-defined]
    assert caught.value.retryable is error.retryable


async def test_truncated_base64_never_becomes_an_output(fake: FakeOpenAI) -> None:
    fake.fail_next(fake_api.truncated_base64())
    client = provider(fake)
    with pytest.raises(ProviderUnavailable):
        result = await client.generate(request())
        probe_output(result.images[0].data)
    await client.aclose()


async def test_timeout_is_retryable(fake: FakeOpenAI) -> None:
    fake.fail_next(Reply(200, {}, delay=1.5))
    client = provider(fake, timeout=0.3)
    with pytest.raises(ProviderTimeout):
        await client.generate(request())
    await client.aclose()


async def test_connection_refused_is_retryable() -> None:
    client = OpenAIImagesProvider(SecretStr(KEY), "http://127.0.0.1:9/v1", 2.0)
    with pytest.raises(ConnectionFailed):
        await client.generate(request())
    await client.aclose()


async def test_bad_key_is_final_taken_out_and_never_shown(
    fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-wrong-key-that-must-not-leak-9876"
    client = provider(fake, key=f"{secret},{KEY}")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthFailed) as caught:
        await client.generate(request())
    assert secret not in str(caught.value) and secret not in caplog.text
    assert "…9876 taken out of the pool" in caplog.text
    result = await client.generate(request())  # the pool moves on to the good key
    assert result.images
    await client.aclose()


def test_impossible_parameters_are_refused_before_spending() -> None:
    caps = OpenAIImagesProvider(SecretStr(KEY), "http://x/v1", 1).capabilities
    spec = task_spec(
        "x",
        aspect_ratio=AspectRatio.R16_9,
        resolution=Resolution.K4,
        negative_prompt="blur",
        seed=3,
        params={"quality": "ultra", "steps": "30"},
        source="row 2",
    )
    problems = [issue.problem for issue in check_spec(spec, Mode.GENERATE, caps, None)]
    assert any("no aspect ratio 16:9" in p for p in problems)
    assert any("no resolution 4K" in p for p in problems)
    assert any("takes no negative prompt" in p for p in problems)
    assert any("takes no seed" in p for p in problems)
    assert any("quality='ultra' is not allowed" in p for p in problems)
    assert any("no parameter 'steps'" in p for p in problems)
