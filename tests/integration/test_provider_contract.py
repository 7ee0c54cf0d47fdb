"""One contract for every HTTP provider, each through its own fake on 127.0.0.1.

The per-provider test files cover each wire format's details; this file checks what every
provider owes the engine: an image for a plain request, typed errors with the right
retryability for the same kinds of failure, and no API key in errors or logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from imagebatch.domain.specs import Mode
from imagebatch.errors import (
    AuthFailed,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import ImageProvider
from imagebatch.providers.gemini import GeminiProvider
from imagebatch.providers.jimeng import JimengProvider
from imagebatch.providers.openai_images import OpenAIImagesProvider
from imagebatch.providers.seedream import SeedreamProvider
from tests.fakes import gemini, jimeng, openai_images, seedream
from tests.fakes.server import FakeServer, Reply
from tests.flat_requests import provider_request


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    key: str
    fake: Callable[[], FakeServer]
    build: Callable[[FakeServer, str, float], ImageProvider]
    server_error: Callable[[], Reply]


CASES = [
    Case(
        "openai",
        "gpt-image-1",
        "sk-contract-key-7777",
        lambda: openai_images.FakeOpenAI("sk-contract-key-7777"),
        lambda f, k, t: OpenAIImagesProvider(SecretStr(k), f.url + "/v1", t),
        lambda: openai_images.server_error(503),
    ),
    Case(
        "gemini",
        "gemini-2.5-flash-image",
        "gm-contract-key-7777",
        lambda: gemini.FakeGemini("gm-contract-key-7777"),
        lambda f, k, t: GeminiProvider(SecretStr(k), f.url, t),
        gemini.overloaded,
    ),
    Case(
        "seedream",
        "doubao-seedream-4-0-250828",
        "ark-contract-key-7777",
        lambda: seedream.FakeSeedream("ark-contract-key-7777"),
        lambda f, k, t: SeedreamProvider(SecretStr(k), f.url, t),
        seedream.internal,
    ),
    Case(
        "jimeng",
        "jimeng_t2i_v40",
        "AKLTcontract:contract-secret-7777",
        lambda: jimeng.FakeJimeng("AKLTcontract", "contract-secret-7777", polls=0),
        lambda f, k, t: JimengProvider(SecretStr(k), f.url, t, poll_seconds=0.01),
        # (50500 is documented as not worth a retry: the gateway's own 503 is)
        lambda: jimeng.gateway_error("ServiceUnavailable", "Service is unavailable", 503),
    ),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Iterator[tuple[Case, FakeServer]]:
    with ExitStack() as stack:
        fake = stack.enter_context(request.param.fake())
        yield request.param, fake


async def call(case: Case, fake: FakeServer, key: str | None = None, timeout: float = 10) -> object:
    provider = case.build(fake, key or case.key, timeout)
    try:
        return await provider.generate(
            provider_request(mode=Mode.GENERATE, model=case.model, prompt="contract")
        )
    finally:
        await provider.aclose()


async def test_a_plain_request_yields_a_whole_image(case: tuple[Case, FakeServer]) -> None:
    spec, fake = case
    result = await call(spec, fake)
    image = result.images[0]  # type: ignore[attr-defined]
    assert probe_output(image.data)[0] == image.mime


async def test_rate_limit_is_retryable(case: tuple[Case, FakeServer]) -> None:
    spec, fake = case
    fake.fail_next(fake.too_many(2.0))
    with pytest.raises(RateLimited) as caught:
        await call(spec, fake)
    assert caught.value.retryable


async def test_server_error_is_retryable(case: tuple[Case, FakeServer]) -> None:
    spec, fake = case
    fake.fail_next(spec.server_error())
    with pytest.raises(ProviderUnavailable):
        await call(spec, fake)


async def test_timeout_is_retryable(case: tuple[Case, FakeServer]) -> None:
    spec, fake = case
    fake.fail_next(Reply(200, {}, delay=1.0))
    with pytest.raises(ProviderTimeout):
        await call(spec, fake, timeout=0.2)


async def test_a_wrong_key_is_final_and_never_shown(
    case: tuple[Case, FakeServer], caplog: pytest.LogCaptureFixture
) -> None:
    spec, fake = case
    caplog.set_level(logging.DEBUG)
    wrong = spec.key.replace("7777", "0000-leak-me")
    with pytest.raises(ProviderError) as caught:
        await call(spec, fake, key=wrong)
    assert isinstance(caught.value, AuthFailed) and not caught.value.retryable
    secret = wrong.split(":")[-1]
    assert secret not in str(caught.value) and secret not in caplog.text
