"""Gemini Batch Mode (economy mode) through google-genai against the wire-faithful fake."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator

import pytest
from PIL import Image
from pydantic import SecretStr

from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.errors import ContentRejected, InvalidRequest, ProviderUnavailable
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import BatchJobs, ImageBytes, ProviderRequest, ProviderResult
from imagebatch.providers.gemini import GeminiProvider
from imagebatch.providers.gemini_batch import GeminiBatchProvider, item_error
from tests.fakes.gemini import FakeGemini
from tests.fakes.gemini_batch import Job
from tests.flat_requests import provider_request

KEY = "gemini-test-key-0000"
MODEL = "gemini-3-pro-image-preview"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(KEY) as server:
        server.batches.polls_to_finish = None
        yield server


@pytest.fixture
async def client(fake: FakeGemini) -> AsyncIterator[GeminiBatchProvider]:
    provider = GeminiBatchProvider(SecretStr(KEY), fake.url, 10.0)
    yield provider
    await provider.aclose()


def request(prompt: str = "a banana", **fields: object) -> ProviderRequest:
    values: dict[str, object] = {"mode": Mode.GENERATE, "model": MODEL, "prompt": prompt}
    return provider_request(**{**values, **fields})  # type: ignore[arg-type]


def jpeg() -> ImageBytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "navy").save(buffer, "JPEG")
    return ImageBytes(buffer.getvalue(), "image/jpeg")


def test_only_the_batch_provider_offers_batch_jobs() -> None:
    assert isinstance(GeminiBatchProvider(SecretStr(KEY), "http://x", 1), BatchJobs)
    assert not isinstance(GeminiProvider(SecretStr(KEY), "http://x", 1), BatchJobs)


async def test_inline_requests_carry_their_key_and_results_come_back_by_key(
    fake: FakeGemini, client: GeminiBatchProvider
) -> None:
    items = [
        ("t1", request(aspect_ratio=AspectRatio.R16_9, resolution=Resolution.K2)),
        ("t2", request("edit this", images=(jpeg(),))),
    ]
    job = await client.submit_batch(items, "imagebatch-marker-1")
    [sent] = [r for r in fake.requests if r.method == "POST"]
    assert sent.path == f"/v1beta/models/{MODEL}:batchGenerateContent"
    batch = sent.json()["batch"]
    assert batch["displayName"] == "imagebatch-marker-1"
    inline = batch["inputConfig"]["requests"]["requests"]
    assert [item["metadata"] for item in inline] == [{"key": "t1"}, {"key": "t2"}]
    config = inline[0]["request"]["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert job.external_id.startswith("batches/")
    assert (await client.poll_batch(job)).status == "running"
    # Results are matched by key: reverse the order the fake answers in.
    fake.batches.finish_jobs()
    fake.batches.jobs[job.external_id].responses.reverse()  # type: ignore[union-attr]
    state = await client.poll_batch(job)
    assert state.status == "succeeded"
    first = state.results["t1"]
    assert isinstance(first, ProviderResult)
    assert probe_output(first.images[0].data) == ("image/png", 2048, 1152)
    assert isinstance(state.results["t2"], ProviderResult)


async def test_item_failures_are_classified_like_single_calls(
    fake: FakeGemini, client: GeminiBatchProvider
) -> None:
    items = [("ok", request()), ("blocked", request("[blocked]")), ("err", request("[item-error]"))]
    job = await client.submit_batch(items, "m")
    fake.batches.finish_jobs()
    state = await client.poll_batch(job)
    assert isinstance(state.results["ok"], ProviderResult)
    assert isinstance(state.results["blocked"], ContentRejected)
    assert isinstance(state.results["err"], ProviderUnavailable)


async def test_expired_and_cancelled_jobs_answer_nothing(
    fake: FakeGemini, client: GeminiBatchProvider
) -> None:
    first = await client.submit_batch([("a", request())], "m1")
    fake.batches.expire_jobs()
    second = await client.submit_batch([("b", request())], "m2")
    await client.cancel_batch(second)
    expired, cancelled = await client.poll_batch(first), await client.poll_batch(second)
    assert (expired.status, expired.results) == ("expired", {})
    assert (cancelled.status, cancelled.results) == ("cancelled", {})


async def test_a_lost_job_is_found_by_its_display_name_across_pages(
    fake: FakeGemini, client: GeminiBatchProvider
) -> None:
    for n in range(120):  # older jobs: more than one page of 100
        fake.batches.jobs[f"batches/old{n}"] = Job(f"batches/old{n}", MODEL, f"old-{n}", [])
    job = await client.submit_batch([("a", request())], "the-marker")
    assert await client.find_batch("the-marker") == job
    assert await client.find_batch("old-1") is not None  # on the second page
    assert await client.find_batch("never") is None


async def test_a_job_over_the_inline_limit_is_refused(
    fake: FakeGemini, client: GeminiBatchProvider
) -> None:
    fake.batches.max_inline_bytes = 1000
    with pytest.raises(InvalidRequest, match="payload size"):
        await client.submit_batch([("a", request("x" * 2000))], "m")


def test_item_errors_in_either_code_space() -> None:
    assert isinstance(item_error(13, "internal"), ProviderUnavailable)
    assert isinstance(item_error(500, "internal"), ProviderUnavailable)
    assert isinstance(item_error(3, "bad"), InvalidRequest)


async def test_a_failed_job_keeps_the_reason_the_service_gave(
    fake: FakeGemini, client: GeminiBatchProvider
) -> None:
    job = await client.submit_batch([("t1", request())], "m-failed")
    fake.batches.fail_jobs(3, "Request payload contains an invalid model configuration.")
    state = await client.poll_batch(job)
    assert state.status == "failed" and state.results == {}
    assert state.error == (
        "gemini batch job failed (code 3): Request payload contains an invalid model configuration."
    )


async def test_a_failed_job_whose_reason_cannot_be_read_still_fails(
    fake: FakeGemini, client: GeminiBatchProvider
) -> None:
    job = await client.submit_batch([("t1", request())], "m-failed")
    fake.batches.fail_jobs()
    fake.batches.jobs[job.external_id].error = None  # an operation without its status
    state = await client.poll_batch(job)
    assert (state.status, state.error) == ("failed", None)
    assert [r.path for r in fake.requests[-2:]] == [f"/v1beta/{job.external_id}"] * 2
