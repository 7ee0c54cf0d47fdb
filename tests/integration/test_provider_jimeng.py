"""The Jimeng provider against a fake that verifies Volcengine signatures exactly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.errors import (
    AuthFailed,
    ContentRejected,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import ProviderRequest
from imagebatch.providers.jimeng import JimengProvider
from tests.fakes.jimeng import FakeJimeng, business_error
from tests.fakes.server import Reply

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
    return ProviderRequest(**{**values, **fields})  # type: ignore[arg-type]


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
    assert probe_output(result.images[0].data) == ("image/jpeg", 2730, 1536)


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
        (business_error(500, 50500, "Internal Error"), ProviderUnavailable),
        (Reply(200, b"<html>"), ProviderUnavailable),
    ],
)
async def test_submit_faults(fake: FakeJimeng, reply: Reply, error: type[ProviderError]) -> None:
    fake.fail_next(reply)
    client = provider(fake)
    with pytest.raises(error):
        await client.generate(request())
    await client.aclose()


async def test_done_can_still_be_a_failure(fake: FakeJimeng) -> None:
    fake.finish_code = 50511  # output image risk: the outer code says so, retryable
    client = provider(fake)
    with pytest.raises(ProviderUnavailable, match="50511"):
        await client.generate(request())
    await client.aclose()
