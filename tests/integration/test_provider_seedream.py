"""The Seedream provider against a wire-faithful Ark fake on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import Iterator

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
    QuotaExhausted,
    RateLimited,
)
from imagebatch.imaging.fetch import FetchLimits
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import ImageBytes, ProviderRequest
from imagebatch.providers.keys import KeyLimits
from imagebatch.providers.seedream import SeedreamProvider, size_for
from tests.fakes import seedream as fake_api
from tests.fakes.seedream import FakeSeedream
from tests.fakes.server import Reply
from tests.flat_requests import provider_request, task_spec
from tests.waiting import wait_until_async

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
    return provider_request(**{**values, **fields})  # type: ignore[arg-type]


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
            images=(ImageBytes(buffer.getvalue(), "image/png"),),
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
        (fake_api.error(400, "InputImageRiskDetection", "risky input image"), ContentRejected),
        (fake_api.error(400, "ContentSecurityDetectionError", "risk service"), ProviderUnavailable),
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


def url_client(fake: FakeSeedream, **limits: object) -> SeedreamProvider:
    options: dict[str, object] = {"max_bytes": 1024 * 1024, "timeout": 2.0, "allow_private": True}
    download = FetchLimits(**{**options, **limits})  # type: ignore[arg-type]
    return SeedreamProvider(SecretStr(KEY), fake.url, 10, download=download)


URL = {"response_format": "url"}


async def test_url_results_are_downloaded(fake: FakeSeedream) -> None:
    client = url_client(fake)
    result = await client.generate(request(resolution=Resolution.K1, params=URL))
    await client.aclose()
    assert fake.requests[0].json()["response_format"] == "url"
    assert [r.path.split("?")[0] for r in fake.downloads] == ["/results/0001.jpeg"]
    assert result.images[0].data == fake.results["0001.jpeg"]
    assert probe_output(result.images[0].data) == ("image/jpeg", 1024, 1024)


def test_response_format_is_a_checked_parameter() -> None:
    caps = SeedreamProvider(SecretStr(KEY), "http://x", 1).capabilities
    model = "doubao-seedream-4-0-250828"
    good = task_spec("x", params={"response_format": "url"})
    bad = task_spec("x", params={"response_format": "link"}, source="row 2")
    assert check_spec(good, Mode.GENERATE, caps, model) == []
    [issue] = check_spec(bad, Mode.GENERATE, caps, model)
    assert "response_format" in issue.problem and "b64_json" in str(issue)


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (fake_api.expired(), ProviderUnavailable, "answered HTTP 403; a retry generates"),
        (Reply(503, b"busy"), ProviderUnavailable, "answered HTTP 503"),
        (fake_api.slow(1.5), ProviderTimeout, "could not fetch the result URL"),
        (fake_api.oversize(2 * 1024 * 1024), InvalidRequest, "IMAGEBATCH_MAX_OUTPUT_BYTES"),
        (fake_api.redirect_loop(), InvalidRequest, "redirects more than 3 times"),
    ],
)
async def test_download_faults_are_classified(
    fake: FakeSeedream, fault: Reply, error: type[ProviderError], message: str
) -> None:
    fake.fail_next_download(fault)
    client = url_client(fake, timeout=0.5)
    with pytest.raises(error, match=message) as caught:
        await client.generate(request(params=URL))
    await client.aclose()
    assert "X-Tos-Signature" not in str(caught.value)  # the signed query stays out of messages
    assert "/results/" in str(caught.value)


async def test_the_redirect_loop_stops_after_three_hops(fake: FakeSeedream) -> None:
    fake.fail_next_download(fake_api.redirect_loop())
    client = url_client(fake)
    with pytest.raises(InvalidRequest):
        await client.generate(request(params=URL))
    await client.aclose()
    assert len(fake.downloads) == 4  # the link and three redirects, then no more


async def test_result_urls_on_private_addresses_are_refused_by_default(
    fake: FakeSeedream,
) -> None:
    client = url_client(fake, allow_private=False)
    with pytest.raises(InvalidRequest, match="private or local address") as caught:
        await client.generate(request(params=URL))
    await client.aclose()
    assert "IMAGEBATCH_ALLOW_PRIVATE_URLS" in str(caught.value)
    assert fake.downloads == []


async def test_the_key_is_free_while_the_result_downloads(fake: FakeSeedream) -> None:
    fake.fail_next_download(fake_api.slow(0.3))
    client = SeedreamProvider(
        SecretStr(KEY),
        fake.url,
        10,
        key_limits=KeyLimits(concurrency=1),
        download=FetchLimits(max_bytes=1024, timeout=5, allow_private=True),
    )
    slow_one = asyncio.create_task(client.generate(request(params=URL)))
    await wait_until_async(lambda: fake.downloads, awaiting="the first call's download")
    await client.generate(request())  # the only key's only slot is free: no wait
    assert not slow_one.done()
    assert (await slow_one).images[0].data == b"\xff\xd8 too late"  # the engine probes it
    await client.aclose()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("InputTextRiskDetection", ContentRejected),
        ("InputImageRiskDetection", ContentRejected),
        ("OutputImageRiskDetection", ContentRejected),
        ("OutputTextRiskDetection", ContentRejected),
        ("OutputImageSensitiveContentDetected", ContentRejected),
        ("InputImageSensitiveContentDetected.PrivacyInformation", ContentRejected),
        ("SensitiveContentDetected.SevereViolation", ContentRejected),
        ("InvalidParameter.Size", InvalidRequest),
        ("SetLimitExceeded", QuotaExhausted),
        ("ModelAccountIpmRateLimitExceeded", RateLimited),
        ("ContentSecurityDetectionError", ProviderUnavailable),
        ("SomethingNew", ProviderUnavailable),
    ],
)
async def test_a_200_with_a_failed_call_is_classified_by_its_code(
    fake: FakeSeedream, code: str, error: type[ProviderError]
) -> None:
    fake.fail_next(fake_api.whole_call_failed(code, "the reason Ark gives"))
    client = SeedreamProvider(SecretStr(KEY), fake.url, 10)
    with pytest.raises(error, match=re.escape(f"{code}: the reason Ark gives")) as caught:
        await client.generate(request())
    await client.aclose()
    assert caught.value.request_id == "0217-fake"
    assert caught.value.retryable == (error in (RateLimited, ProviderUnavailable))


def test_endpoint_ids_are_models_with_the_default_models_abilities() -> None:
    caps = SeedreamProvider(SecretStr(KEY), "http://x", 1).capabilities
    spec = task_spec("x", resolution=Resolution.K1, params={"response_format": "url"})
    assert check_spec(spec, Mode.GENERATE, caps, "ep-20250101123456-abcde") == []
    found = caps.model("ep-20250101123456-abcde")
    assert found is not None and found.name == "ep-20250101123456-abcde"
    assert found.price_per_image == caps.models[caps.default_model].price_per_image
    [issue] = check_spec(spec, Mode.GENERATE, caps, "ep-")
    assert "has no model 'ep-'" in issue.problem


async def test_an_endpoint_id_is_sent_as_the_model(fake: FakeSeedream) -> None:
    fake.endpoints["ep-20250101123456-abcde"] = "doubao-seedream-4-0-250828"
    client = SeedreamProvider(SecretStr(KEY), fake.url, 10)
    result = await client.generate(
        request(model="ep-20250101123456-abcde", resolution=Resolution.K1)
    )
    with pytest.raises(InvalidRequest, match=r"InvalidEndpointOrModel\.NotFound"):
        await client.generate(request(model="ep-20990101000000-zzzzz"))
    await client.aclose()
    assert fake.requests[0].json()["model"] == "ep-20250101123456-abcde"
    assert result.seed is None  # Seedream 4.x takes no seed
    assert probe_output(result.images[0].data)[0] == "image/jpeg"


def encoded(fmt: str, mode: str = "RGB") -> ImageBytes:
    buffer = io.BytesIO()
    Image.new(mode, (24, 16), (10, 200, 30, 128) if mode == "RGBA" else "white").save(buffer, fmt)
    return ImageBytes(buffer.getvalue(), f"image/{fmt.lower()}")


@pytest.mark.parametrize(
    ("model", "image", "sent"),
    [
        ("doubao-seedream-4-0-250828", encoded("WEBP"), "image/jpeg"),
        ("doubao-seedream-4-0-250828", encoded("WEBP", "RGBA"), "image/png"),
        ("doubao-seedream-4-0-250828", encoded("PNG"), "image/png"),
        ("doubao-seedream-4-5-251128", encoded("WEBP"), "image/webp"),
    ],
)
async def test_reference_images_are_sent_in_a_format_the_model_lists(
    fake: FakeSeedream, model: str, image: ImageBytes, sent: str
) -> None:
    client = SeedreamProvider(SecretStr(KEY), fake.url, 10)
    await client.generate(request(model=model, images=(image,)))
    await client.aclose()
    [data_url] = fake.requests[0].json()["image"]
    assert data_url.startswith(f"data:{sent};base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    assert decoded.size == (24, 16)
    assert (decoded.mode == "RGBA") == (sent == "image/png" and image.mime == "image/webp")
