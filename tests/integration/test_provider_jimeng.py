"""The Jimeng provider against a fake that verifies Volcengine signatures exactly."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.errors import (
    AuthFailed,
    ContentRejected,
    FinalError,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import ProviderRequest
from imagebatch.providers.jimeng import (
    MAX_AREA,
    MAX_RATIO,
    MIN_AREA,
    MIN_RATIO,
    PRESETS,
    SIZE_STEP,
    JimengProvider,
    size_for,
)
from tests.fakes.jimeng import FakeJimeng, business_error, documented, gateway_error
from tests.fakes.server import Reply
from tests.flat_requests import provider_request

KEY = "AKLTfake:fake-secret"


@pytest.fixture
def fake() -> Iterator[FakeJimeng]:
    with FakeJimeng(polls=2) as server:
        yield server


def provider(fake: FakeJimeng, key: str = KEY) -> JimengProvider:
    return JimengProvider(SecretStr(key), fake.url, 10, poll_seconds=0.01)


def request(**fields: object) -> ProviderRequest:
    values: dict[str, object] = {
        "mode": Mode.GENERATE,
        "model": "jimeng_t2i_v40",
        "prompt": "演唱会",
    }
    return provider_request(**{**values, **fields})  # type: ignore[arg-type]


async def test_signed_submit_then_poll(fake: FakeJimeng) -> None:
    client = provider(fake)
    result = await client.generate(
        request(aspect_ratio=AspectRatio.R16_9, resolution=Resolution.K2)
    )
    await client.aclose()
    submit, *polls = fake.requests
    assert "Action=CVSync2AsyncSubmitTask" in submit.path
    assert submit.json()["force_single"] is True
    assert len(polls) == 3 and all("CVSync2AsyncGetResult" in p.path for p in polls)
    assert probe_output(result.images[0].data) == ("image/jpeg", 2560, 1440)
    assert result.seed is None  # Jimeng 4.0 takes no seed


@pytest.mark.parametrize(("aspect", "resolution"), list(itertools.product(AspectRatio, Resolution)))
def test_every_offered_size_is_inside_the_documented_bounds(
    aspect: AspectRatio, resolution: Resolution
) -> None:
    width, height = size_for(aspect, resolution)
    assert MIN_AREA <= width * height <= MAX_AREA
    assert MIN_RATIO <= width / height <= MAX_RATIO
    assert abs(width / height / aspect.ratio - 1) < 0.015
    documented_sizes = {size for preset in PRESETS.values() for size in (preset, preset[::-1])}
    assert (width, height) in documented_sizes or (
        width % SIZE_STEP == 0 and height % SIZE_STEP == 0
    )
    # the resolution's area, give or take: 2K presets are up to 12 % smaller than 2048²
    assert 0.85 < width * height / resolution.long_side**2 < 1.05


async def test_a_wide_1k_image_is_asked_for_at_a_size_the_service_accepts(
    fake: FakeJimeng,
) -> None:
    # 16:9 at 1K used to be 1365×768, under 1024² pixels: the service refused every one
    client = provider(fake)
    result = await client.generate(
        request(aspect_ratio=AspectRatio.R16_9, resolution=Resolution.K1)
    )
    await client.aclose()
    body = fake.requests[0].json()
    assert (body["width"], body["height"]) == (1376, 768)
    assert probe_output(result.images[0].data) == ("image/jpeg", 1376, 768)


async def test_wrong_secret_fails_the_signature_check(fake: FakeJimeng) -> None:
    client = provider(fake, key="AKLTfake:another-secret")
    with pytest.raises(AuthFailed, match="SignatureDoesNotMatch"):
        await client.generate(request())
    await client.aclose()
    assert client.keys.active() == []


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (business_error(400, 50412, "Text Risk Not Pass"), ContentRejected),
        (business_error(429, 50430, "Request Has Reached API Concurrent Limit"), RateLimited),
        (documented(50411), ContentRejected),
        (documented(50413), ContentRejected),
        (documented(50512), ContentRejected),  # output text risk: documented as final
        (documented(50429), RateLimited),
        (documented(50500), FinalError),  # internal errors: documented as not worth a retry
        (documented(50501), FinalError),
        (business_error(502, 0, "Bad Gateway"), ProviderUnavailable),
        (gateway_error("ServiceUnavailable", "Service is unavailable", 503), ProviderUnavailable),
        (gateway_error("InvalidActionOrVersion", "unknown action", 400), InvalidRequest),
        (Reply(200, b"<html>"), ProviderUnavailable),
    ],
)
async def test_submit_faults(fake: FakeJimeng, reply: Reply, error: type[ProviderError]) -> None:
    fake.fail_next(reply)
    client = provider(fake)
    with pytest.raises(error) as raised:
        await client.generate(request())
    await client.aclose()
    assert raised.value.retryable == issubclass(error, (RateLimited, ProviderUnavailable))


async def test_done_can_still_be_a_failure(fake: FakeJimeng) -> None:
    fake.finish_code = 50511  # output image risk: the outer code says so, retryable
    client = provider(fake)
    with pytest.raises(ProviderUnavailable, match="50511"):
        await client.generate(request())
    await client.aclose()


async def test_done_with_a_final_code_is_not_retried(fake: FakeJimeng) -> None:
    fake.finish_code = 50512  # output text risk: final
    client = provider(fake)
    with pytest.raises(ContentRejected, match="50512: Post Text Risk Not Pass") as raised:
        await client.generate(request())
    await client.aclose()
    assert not raised.value.retryable
