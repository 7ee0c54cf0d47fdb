"""openai-compatible against a fake that answers as DALL·E and LocalAI-style servers do: links
(`data[0].url`) unless base64 is asked for, the linked image served by the fake itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from imagebatch.app import build_app
from imagebatch.config import Settings
from imagebatch.domain.capabilities import check_spec
from imagebatch.domain.specs import Mode
from imagebatch.errors import InvalidRequest, ProviderError, ProviderUnavailable
from imagebatch.imaging.fetch import FetchLimits
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import ProviderRequest
from imagebatch.providers.openai_images import OpenAIImagesProvider, compatible_capabilities
from tests.fakes import openai_images as fake_api
from tests.fakes.openai_images import LINK_PREFIX, FakeOpenAI
from tests.fakes.server import Reply
from tests.flat_requests import provider_request, task_spec
from tests.integration.helpers import prompts, run_to_end, submit

KEY = "sk-local-0000"
LOOPBACK_OK = FetchLimits(max_bytes=8 * 1024 * 1024, timeout=5.0, allow_private=True)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(KEY) as server:
        server.links_by_default = True
        yield server


def compatible(fake: FakeOpenAI, download: FetchLimits = LOOPBACK_OK) -> OpenAIImagesProvider:
    return OpenAIImagesProvider(
        SecretStr(KEY),
        fake.base_url,
        10.0,
        name="openai-compatible",
        capabilities=compatible_capabilities("sd-xl"),
        download=download,
    )


def request(**params: str) -> ProviderRequest:
    return provider_request(mode=Mode.GENERATE, model="sd-xl", prompt="a fox", params=params)


async def answer(client: OpenAIImagesProvider, req: ProviderRequest) -> bytes:
    try:
        return (await client.generate(req)).images[0].data
    finally:
        await client.aclose()


def link_gets(fake: FakeOpenAI) -> list[str]:
    return [r.path for r in fake.requests if r.path.startswith(LINK_PREFIX)]


async def test_a_link_answer_is_downloaded(fake: FakeOpenAI) -> None:
    data = await answer(compatible(fake), request())
    assert probe_output(data) == ("image/png", 1024, 1024)
    assert fake.requests[0].json() == {
        "model": "sd-xl",
        "prompt": "a fox",
        "n": 1,
        "size": "1024x1024",
    }
    [got] = link_gets(fake)
    assert fake.linked[got.split("?")[0]] == data


async def test_response_format_b64_json_is_sent_and_read(fake: FakeOpenAI) -> None:
    data = await answer(compatible(fake), request(response_format="b64_json"))
    assert fake.requests[0].json()["response_format"] == "b64_json"
    assert probe_output(data)[0] == "image/png" and not link_gets(fake)


async def test_response_format_url_is_sent(fake: FakeOpenAI) -> None:
    fake.links_by_default = False  # OpenAI itself: only DALL·E models take response_format
    dalle = provider_request(
        mode=Mode.GENERATE, model="dall-e-2", prompt="a fox", params={"response_format": "url"}
    )
    await answer(compatible(fake), dalle)
    assert fake.requests[0].json()["response_format"] == "url"
    assert len(link_gets(fake)) == 1


async def test_a_link_to_a_private_address_is_refused_and_final(fake: FakeOpenAI) -> None:
    public_only = FetchLimits(max_bytes=1024 * 1024, timeout=5.0)
    with pytest.raises(InvalidRequest) as caught:
        await answer(compatible(fake, public_only), request())
    message = str(caught.value)
    assert "private or local address" in message and "IMAGEBATCH_ALLOW_PRIVATE_URLS" in message
    assert "sig=" not in message  # the link's signature stays out of messages
    assert not link_gets(fake)  # refused before any connection


async def test_an_expired_link_is_retryable_and_keeps_its_signature_quiet(
    fake: FakeOpenAI,
) -> None:
    fake.links_expired = True
    with pytest.raises(ProviderUnavailable) as caught:
        await answer(compatible(fake), request())
    assert "HTTP 403" in str(caught.value) and "sig=" not in str(caught.value)


async def test_a_link_over_the_output_cap_is_final(fake: FakeOpenAI) -> None:
    tiny = FetchLimits(max_bytes=1000, timeout=5.0, allow_private=True)
    with pytest.raises(InvalidRequest, match="IMAGEBATCH_MAX_OUTPUT_BYTES"):
        await answer(compatible(fake, tiny), request())


async def test_a_200_without_an_image_is_final(fake: FakeOpenAI) -> None:
    fake.fail_next(fake_api.no_image())
    with pytest.raises(ProviderError) as caught:
        await answer(compatible(fake), request())
    assert not caught.value.retryable
    assert "openai-compatible answered without an image" in str(caught.value)
    assert caught.value.request_id == "req_empty"


async def test_a_200_carrying_an_error_object_keeps_its_reason(fake: FakeOpenAI) -> None:
    # gateways (one-api / new-api style) relay an upstream failure this way
    body = {"error": {"message": "upstream: no channel for sd-xl", "type": "new_api_error"}}
    fake.fail_next(Reply(200, body))
    with pytest.raises(InvalidRequest, match="without an image: upstream: no channel"):
        await answer(compatible(fake), request())


def test_response_format_is_a_compatible_parameter() -> None:
    caps = compatible_capabilities("sd-xl")
    for value, problems in (("url", 0), ("b64_json", 0), ("png", 1)):
        spec = task_spec("x", params={"response_format": value})
        assert len(check_spec(spec, Mode.GENERATE, caps, "any-model")) == problems


# --- through the engine: one generation per task, never three ------------------------------


def engine_settings(tmp_path: Path, database_url: str, fake: FakeOpenAI) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        openai_compatible_base_url=fake.base_url,
        openai_compatible_api_key=SecretStr(KEY),
        openai_compatible_model="sd-xl",
        allow_private_urls=True,  # the fake's links are on 127.0.0.1
        retry_base_delay=0.0,
        retry_max_delay=0.0,
    )


def generations(fake: FakeOpenAI) -> int:
    return sum(r.path == "/v1/images/generations" for r in fake.requests)


async def test_link_answers_make_outputs_with_one_call_each(
    tmp_path: Path, database_url: str, fake: FakeOpenAI
) -> None:
    app = await build_app(engine_settings(tmp_path, database_url, fake))  # as the server builds it
    try:
        batch = await submit(app, prompts("a", "b", "c"), provider="openai-compatible")
        await run_to_end(app, [batch.id])
        assert (await app.batches.get(batch.id)).succeeded == 3
    finally:
        await app.close()
    assert generations(fake) == 3 and len(link_gets(fake)) == 3


async def test_an_empty_answer_fails_its_task_after_one_call(
    tmp_path: Path, database_url: str, fake: FakeOpenAI
) -> None:
    fake.fail_next(fake_api.no_image())
    app = await build_app(engine_settings(tmp_path, database_url, fake))
    try:
        batch = await submit(app, prompts("a"), provider="openai-compatible")
        await run_to_end(app, [batch.id])
        [task] = await app.tasks.page(batch.id)
    finally:
        await app.close()
    assert task.attempts == 1 and task.error_kind == "InvalidRequest"
    assert "without an image" in (task.error_message or "")
    assert generations(fake) == 1  # before: three generations, each billed
