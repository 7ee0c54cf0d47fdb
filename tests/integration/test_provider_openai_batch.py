"""OpenAI batch jobs (economy mode) through the official SDK against the wire-faithful fake."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from PIL import Image
from pydantic import SecretStr

from imagebatch.domain.specs import AspectRatio, Mode
from imagebatch.errors import AuthFailed, ContentRejected, ProviderUnavailable
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import BatchJobs, ImageBytes, ProviderRequest, ProviderResult
from imagebatch.providers.keys import key_ref
from imagebatch.providers.openai_batch import OpenAIBatchProvider
from imagebatch.providers.openai_images import OpenAIImagesProvider
from tests.fakes import openai_images as fake_api
from tests.fakes.openai_images import FakeOpenAI
from tests.fakes.server import Reply
from tests.flat_requests import provider_request

KEY = "sk-test-key-0000"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(KEY) as server:
        server.batches.polls_to_finish = None  # the test says when jobs finish
        yield server


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[OpenAIBatchProvider]:
    provider = OpenAIBatchProvider(SecretStr(KEY), fake.base_url, 10.0)
    yield provider
    await provider.aclose()


def request(prompt: str = "a fox", **fields: object) -> ProviderRequest:
    values: dict[str, object] = {"mode": Mode.GENERATE, "model": "gpt-image-1", "prompt": prompt}
    return provider_request(**{**values, **fields})  # type: ignore[arg-type]


def png() -> ImageBytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, "PNG")
    return ImageBytes(buffer.getvalue(), "image/png")


def test_only_the_openai_provider_offers_batch_jobs() -> None:
    assert isinstance(OpenAIBatchProvider(SecretStr(KEY), "http://x/v1", 1), BatchJobs)
    assert not isinstance(OpenAIImagesProvider(SecretStr(KEY), "http://x/v1", 1), BatchJobs)


async def test_generations_go_as_one_jsonl_file_and_come_back_by_custom_id(
    fake: FakeOpenAI, client: OpenAIBatchProvider
) -> None:
    items = [
        ("t1", request("a fox", aspect_ratio=AspectRatio.R3_2, params={"quality": "low"})),
        ("t2", request("an owl")),
    ]
    job = await client.submit_batch(items, "marker-1")
    assert job.key_ref == key_ref(KEY) and KEY not in job.key_ref
    [created] = fake.batches.created
    assert created["endpoint"] == "/v1/images/generations"
    assert created["metadata"] == {"imagebatch_marker": "marker-1"}
    upload = next(r for r in fake.requests if r.path == "/v1/files")
    parts = {name: content for name, _, content in upload.form()}
    assert parts["purpose"] == b"batch"
    lines = [json.loads(line) for line in parts["file"].decode().splitlines()]
    assert lines[0] == {
        "custom_id": "t1",
        "method": "POST",
        "url": "/v1/images/generations",
        "body": {
            "model": "gpt-image-1",
            "prompt": "a fox",
            "n": 1,
            "size": "1536x1024",
            "quality": "low",
        },
    }
    assert not (await client.poll_batch(job)).finished
    fake.batches.finish_jobs()
    state = await client.poll_batch(job)
    assert state.status == "succeeded" and set(state.results) == {"t1", "t2"}
    first = state.results["t1"]
    assert isinstance(first, ProviderResult)
    assert probe_output(first.images[0].data) == ("image/png", 1536, 1024)


async def test_edits_travel_as_data_urls_in_the_json_form(
    fake: FakeOpenAI, client: OpenAIBatchProvider
) -> None:
    edit = request("make it blue", mode=Mode.EDIT, images=(png(), png()))
    job = await client.submit_batch([("e1", edit)], "marker-2")
    assert fake.batches.created[0]["endpoint"] == "/v1/images/edits"
    fake.batches.finish_jobs()
    state = await client.poll_batch(job)
    assert isinstance(state.results["e1"], ProviderResult)
    line = json.loads(fake.batches.files["file-000001"][1])
    images = line["body"]["images"]
    assert len(images) == 2 and images[0]["image_url"].startswith("data:image/png;base64,")


async def test_item_failures_are_classified_like_single_calls(
    fake: FakeOpenAI, client: OpenAIBatchProvider
) -> None:
    items = [
        ("ok", request()),
        ("bad", request("nope [moderation]")),
        ("busy", request("later [server-error]")),
    ]
    job = await client.submit_batch(items, "m")
    fake.batches.finish_jobs()
    state = await client.poll_batch(job)
    assert state.status == "succeeded"
    assert isinstance(state.results["ok"], ProviderResult)
    assert isinstance(state.results["bad"], ContentRejected)
    assert isinstance(state.results["busy"], ProviderUnavailable)


async def test_an_expired_job_keeps_what_was_done_and_leaves_the_rest_unanswered(
    fake: FakeOpenAI, client: OpenAIBatchProvider
) -> None:
    job = await client.submit_batch([("a", request()), ("b", request("b"))], "m")
    fake.batches.expire_jobs(done=1)
    state = await client.poll_batch(job)
    assert state.status == "expired" and list(state.results) == ["a"]


async def test_a_lost_job_is_found_by_its_marker(
    fake: FakeOpenAI, client: OpenAIBatchProvider
) -> None:
    for n in range(3):
        await client.submit_batch([("x", request())], f"marker-{n}")
    found = await client.find_batch("marker-1")
    assert found is not None and found.external_id == fake.batches.created[1]["id"]
    assert await client.find_batch("marker-unknown") is None


async def test_discarding_a_job_deletes_its_files_and_may_be_repeated(
    fake: FakeOpenAI, client: OpenAIBatchProvider
) -> None:
    job = await client.submit_batch([("a", request()), ("b", request("b"))], "m")
    fake.batches.finish_jobs()
    await client.poll_batch(job)
    assert len(fake.batches.files) == 2  # the uploaded requests and the results
    # the job read as it is, then its first file's delete refused
    fake.fail_next(Reply(200, fake.batches.created[0]), fake_api.server_error())
    with pytest.raises(ProviderUnavailable):
        await client.discard_batch(job)
    assert len(fake.batches.files) == 2
    await client.discard_batch(job)
    assert fake.batches.files == {}
    await client.discard_batch(job)  # nothing left to delete: no error


async def test_cancel(client: OpenAIBatchProvider) -> None:
    job = await client.submit_batch([("a", request())], "m")
    await client.cancel_batch(job)
    state = await client.poll_batch(job)
    assert state.status == "cancelled" and not state.results


async def test_a_job_polled_with_a_key_no_longer_configured_says_so(
    fake: FakeOpenAI, client: OpenAIBatchProvider
) -> None:
    job = await client.submit_batch([("a", request())], "m")
    other = OpenAIBatchProvider(SecretStr("sk-another-key-1111"), fake.base_url, 10.0)
    with pytest.raises(AuthFailed, match="no longer in IMAGEBATCH_OPENAI_API_KEY"):
        await other.poll_batch(job)
    await other.aclose()
