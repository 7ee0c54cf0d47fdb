"""The Seedream provider against a wire-faithful Ark fake on 127.0.0.1."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image
from pydantic import SecretStr

from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.errors import (
    AuthFailed,
    ContentRejected,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import InputImage, ProviderRequest
from imagebatch.providers.seedream import SeedreamProvider, size_for
from tests.fakes import seedream as fake_api
from tests.fakes.seedream import FakeSeedream
from tests.fakes.server import Reply

KEY = "ark-test-key-0000"


@pytest.fixture
def fake() -> Iterator[FakeSeedream]:
    with FakeSeedream(KEY) as server:
        yield server


def request(**fields: object) -> ProviderRequest:
    values: dict[str, object] = {
        "mode": Mode.GENERATE,
        "model": "doubao-seedream-4-0-250828",
        "prompt": "plush cow",
    }
    return ProviderRequest(**{**values, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("aspect", "resolution", "size"),
    [
        (AspectRatio.R1_1, Resolution.K2, "2048x2048"),
        (AspectRatio.R16_9, Resolution.K1, "1360x768"),
        (AspectRatio.R9_16, Resolution.K4, "3072x5456"),
    ],
)
def test_size_keeps_the_area_of_the_resolution(
    aspect: AspectRatio, resolution: Resolution, size: str
) -> None:
    assert size_for(aspect, resolution) == size


async def test_generation_request_and_result(fake: FakeSeedream) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, "PNG")
    client = SeedreamProvider(SecretStr(KEY), fake.url, 10)
    result = await client.generate(
        request(
            aspect_ratio=AspectRatio.R16_9,
            resolution=Resolution.K1,
            images=(InputImage(buffer.getvalue(), "image/png"),),
        )
    )
    await client.aclose()
    body = fake.requests[0].json()
    assert body["watermark"] is False and body["response_format"] == "b64_json"
    assert body["size"] == "1360x768" and body["image"][0].startswith("data:image/png;base64,")
    assert probe_output(result.images[0].data) == ("image/jpeg", 1360, 768)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (fake_api.sensitive_input(), ContentRejected),
        (fake_api.failed_item(), ContentRejected),
        (fake_api.rate_limited(4), RateLimited),
        (fake_api.quota_exceeded(), QuotaExhausted),
        (fake_api.internal(), ProviderUnavailable),
        (fake_api.error(400, "InvalidParameter", "bad size"), InvalidRequest),
        (Reply(502, b"<html>bad gateway</html>"), ProviderUnavailable),
        (Reply(200, b"{not json"), ProviderUnavailable),
    ],
)
async def test_faults_are_classified(
    fake: FakeSeedream, reply: Reply, error: type[ProviderError]
) -> None:
    fake.fail_next(reply)
    client = SeedreamProvider(SecretStr(KEY), fake.url, 10)
    with pytest.raises(error) as caught:
        await client.generate(request())
    await client.aclose()
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 4


async def test_bad_key(fake: FakeSeedream) -> None:
    client = SeedreamProvider(SecretStr("ark-wrong-key-9999"), fake.url, 10)
    with pytest.raises(AuthFailed) as caught:
        await client.generate(request())
    await client.aclose()
    assert "ark-wrong-key-9999" not in str(caught.value)


async def test_timeout(fake: FakeSeedream) -> None:
    fake.fail_next(Reply(200, {}, delay=1.5))
    client = SeedreamProvider(SecretStr(KEY), fake.url, 0.3)
    with pytest.raises(ProviderTimeout):
        await client.generate(request())
    await client.aclose()
