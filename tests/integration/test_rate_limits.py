"""The engine paces calls to a provider's rate limit instead of collecting 429s."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from imagebatch.app import build_app
from imagebatch.config import Settings
from imagebatch.providers.openai_images import OpenAIImagesProvider
from tests.fakes.openai_images import FakeOpenAI
from tests.flat_requests import task_spec
from tests.integration.helpers import run_to_end, submit

KEY = "sk-rate-test-0000"


async def run_against_limit(
    tmp_path: Path, database_url: str, rpm: dict[str, float]
) -> tuple[FakeOpenAI, int]:
    with FakeOpenAI(KEY) as fake:
        # 480 requests a minute, counted over any one second: room for a paced client to be
        # late now and then (a loaded machine) without bunching over the limit.
        fake.limit_rate(8, window=1.0)
        settings = Settings(
            data_dir=tmp_path / "d",
            database_url=database_url,
            provider_rpm=rpm,
            concurrency=8,
            retry_base_delay=0,
        )
        provider = OpenAIImagesProvider(SecretStr(KEY), fake.base_url, 10)
        app = await build_app(settings, providers={"openai": provider})
        try:
            specs = [task_spec(f"tile {i}") for i in range(16)]
            batch = await submit(app, specs, provider="openai")
            await run_to_end(app, [batch.id])
            succeeded = (await app.batches.get(batch.id)).succeeded
        finally:
            await app.close()
        return fake, succeeded


async def test_paced_calls_stay_under_the_limit(tmp_path: Path, database_url: str) -> None:
    fake, succeeded = await run_against_limit(tmp_path, database_url, {"openai": 300})
    assert (fake.rejected, succeeded) == (0, 16)


async def test_without_pacing_the_same_batch_meets_429s(tmp_path: Path, database_url: str) -> None:
    fake, _ = await run_against_limit(tmp_path, database_url, {})
    assert fake.rejected > 0  # the contrast that makes the test above meaningful
