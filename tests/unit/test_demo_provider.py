from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.errors import (
    ContentRejected,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from imagebatch.providers.base import ImageBytes, ProviderRequest
from imagebatch.providers.demo import DemoProvider
from tests.flat_requests import provider_request
from tests.waiting import wait_until_async


def request(prompt: str = "a cat", **fields: object) -> ProviderRequest:
    return provider_request(mode=Mode.GENERATE, model="demo", prompt=prompt, **fields)  # type: ignore[arg-type]


def size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


async def test_generates_at_the_requested_ratio_and_resolution() -> None:
    result = await DemoProvider().generate(
        request(aspect_ratio=AspectRatio.R16_9, resolution=Resolution.K2)
    )
    assert size(result.images[0].data) == (2048, 1152)


async def test_is_deterministic_and_copies_differ_unless_a_seed_pins_them() -> None:
    demo = DemoProvider()
    first = (await demo.generate(request(seed=1))).images[0].data
    again = (await demo.generate(request(seed=1))).images[0].data
    pinned = (await demo.generate(request(seed=1, variant=1))).images[0].data
    other = (await demo.generate(request(seed=2))).images[0].data
    copy = (await demo.generate(request(variant=1))).images[0].data
    unseeded = (await demo.generate(request())).images[0].data
    assert first == again == pinned and first != other and copy != unseeded


async def test_reports_the_seed_it_used() -> None:
    demo = DemoProvider()
    assert (await demo.generate(request(seed=12345))).seed == 12345
    assert (await demo.generate(request())).seed is None


async def test_edit_transforms_the_input() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 10, 10)).save(buffer, "PNG")
    source = ImageBytes(buffer.getvalue(), "image/png")
    result = await DemoProvider().generate(
        provider_request(mode=Mode.EDIT, model="demo", prompt="sepia", images=(source,))
    )
    data = result.images[0].data
    assert size(data) == (60, 40) and data != source.data


@pytest.mark.parametrize(
    ("marker", "error"),
    [
        ("[demo:reject]", ContentRejected),
        ("[demo:invalid]", InvalidRequest),
        ("[demo:ratelimit=2.5]", RateLimited),
        ("[demo:unavailable]", ProviderUnavailable),
    ],
)
async def test_markers_raise_each_error_kind(marker: str, error: type[ProviderError]) -> None:
    with pytest.raises(error) as caught:
        await DemoProvider().generate(request(f"{marker} cat"))
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 2.5


async def test_failure_rate_fails_that_share() -> None:
    demo = DemoProvider(failure_rate=1.0)
    with pytest.raises(ProviderUnavailable):
        await demo.generate(request())


async def test_hang_can_be_cancelled_and_in_flight_is_counted() -> None:
    demo = DemoProvider()
    call = asyncio.create_task(demo.generate(request("[demo:hang]")))
    await wait_until_async(lambda: demo.in_flight, awaiting="the call to start")
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (demo.in_flight, demo.max_in_flight, demo.calls) == (0, 1, 1)


def test_says_it_is_not_ai() -> None:
    assert "Not AI" in DemoProvider().capabilities.models["demo"].description
