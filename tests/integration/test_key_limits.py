"""Per-key limits against fakes that enforce a rate per API key, as providers do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from imagebatch.app import build_app
from imagebatch.config import Settings
from imagebatch.domain.specs import Mode, TaskSpec
from imagebatch.providers.gemini import GeminiProvider
from imagebatch.providers.keys import KeyLimits
from imagebatch.providers.openai_images import OpenAIImagesProvider
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_images import FakeOpenAI
from tests.flat_requests import provider_request, task_spec
from tests.integration.helpers import run_to_end, submit

A, B = "sk-key-aaaa-1111", "sk-key-bbbb-2222"


def specs(count: int) -> list[TaskSpec]:
    return [task_spec(f"tile {i}") for i in range(count)]


async def test_keys_paced_under_their_limit_meet_no_429(tmp_path: Path, database_url: str) -> None:
    with FakeOpenAI(f"{A},{B}") as fake:
        fake.limit_key_rate(4, window=0.5)  # 480 a minute for each key
        settings = Settings(
            data_dir=tmp_path / "d",
            database_url=database_url,
            openai_api_key=SecretStr(f"{A},{B}"),
            openai_base_url=fake.base_url,
            key_rpm={"openai": 360},
            concurrency=8,
        )
        app = await build_app(settings)  # the provider factory builds the pool from the settings
        try:
            batch = await submit(app, specs(16), provider="openai")
            await run_to_end(app, [batch.id])
            assert (await app.batches.get(batch.id)).succeeded == 16
        finally:
            await app.close()
    assert fake.rejected == 0
    assert fake.served_by_key == {A: 8, B: 8}


async def test_without_key_pacing_the_same_batch_meets_429s(
    tmp_path: Path, database_url: str
) -> None:
    with FakeOpenAI(f"{A},{B}") as fake:
        fake.limit_key_rate(4, window=0.5)
        provider = OpenAIImagesProvider(SecretStr(f"{A},{B}"), fake.base_url, 10)
        settings = Settings(
            data_dir=tmp_path / "d",
            database_url=database_url,
            concurrency=16,
            retry_base_delay=0,
        )
        app = await build_app(settings, providers={"openai": provider})
        try:
            batch = await submit(app, specs(16), provider="openai")
            await run_to_end(app, [batch.id])
        finally:
            await app.close()
    assert fake.rejected > 0  # the contrast that makes the test above meaningful


async def test_a_limited_key_backs_off_the_other_carries_the_load_and_it_recovers(
    tmp_path: Path, database_url: str
) -> None:
    a, b = "gm-key-aaaa-1111", "gm-key-bbbb-2222"
    with FakeGemini(f"{a},{b}") as fake:
        fake.limit_key_rate(2, window=0.5, key=a)  # the provider allows key a only 4/s
        provider = GeminiProvider(
            SecretStr(f"{a},{b}"),
            fake.url,
            10,
            KeyLimits(rpm=480),  # we ask 8/s of each
        )
        settings = Settings(
            data_dir=tmp_path / "d",
            database_url=database_url,
            concurrency=8,
            retry_base_delay=0,
            max_attempts=5,
        )
        app = await build_app(settings, providers={"gemini": provider})
        try:
            batch = await submit(app, specs(24), provider="gemini")
            await run_to_end(app, [batch.id])
            assert (await app.batches.get(batch.id)).succeeded == 24
        finally:
            await app.close()
    assert fake.refused_by_key[a] >= 1 and fake.refused_by_key[b] == 0
    assert fake.served_by_key[b] > fake.served_by_key[a]
    first_refusal = next(t for t, key, ok in fake.history if key == a and not ok)
    assert any(ok and key == a and t > first_refusal for t, key, ok in fake.history)
    assert provider.keys._keys[a].bucket.rate < 480  # type: ignore[union-attr]


async def test_calls_in_flight_per_key_are_capped() -> None:
    with FakeOpenAI(f"{A},{B}") as fake:
        fake.latency = 0.1
        provider = OpenAIImagesProvider(
            SecretStr(f"{A},{B}"), fake.base_url, 10, key_limits=KeyLimits(concurrency=1)
        )
        request = provider_request(mode=Mode.GENERATE, model="gpt-image-1", prompt="mug")
        await asyncio.gather(*(provider.generate(request) for _ in range(6)))
        await provider.aclose()
    assert fake.max_in_flight == 2
    assert fake.served_by_key == {A: 3, B: 3}


def test_key_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEBATCH_KEY_RPM", '{"gemini": 10}')
    monkeypatch.setenv("IMAGEBATCH_KEY_CONCURRENCY", '{"openai": 2}')
    settings = Settings()
    assert (settings.key_rpm, settings.key_concurrency) == ({"gemini": 10}, {"openai": 2})
    with pytest.raises(ValidationError, match="key_concurrency"):
        Settings(key_concurrency={"openai": 0})
