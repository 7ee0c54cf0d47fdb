"""The seed a provider really used is recorded with each task, and shown alike in the task
API, the output's provenance metadata and the ZIP's manifest.csv. A seed-taking model that
was given none gets one derived from the request; a model that takes none records none.

Through the real server (tests/api/conftest.py): the demo provider, and two providers on
top of it standing in for other models — one without seeds, one that narrows a seed to its
own range, as ComfyUI does for an input with a small maximum."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, ClassVar

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

from imagebatch.app import App, build_app
from imagebatch.config import Settings
from imagebatch.domain.capabilities import ModelCapabilities, ProviderCapabilities
from imagebatch.domain.records import Task
from imagebatch.domain.seeds import DERIVED_SEED_LIMIT
from imagebatch.imaging import provenance
from imagebatch.providers.base import ImageProvider, ProviderRequest, ProviderResult
from imagebatch.providers.demo import DemoProvider
from imagebatch.providers.gemini_batch import GeminiBatchProvider
from tests.api.conftest import Api, api_settings, serve_harness
from tests.fakes.gemini import FakeGemini
from tests.integration.helpers import prompts, submit

__all__ = ["api_settings"]

#: the narrowing provider's seeds stay below this
NARROW_RANGE = 1000


class SeedlessModel(DemoProvider):
    """A model that takes no seed (as OpenAI's, Seedream's and Jimeng's)."""

    name: ClassVar[str] = "seedless"

    @property
    def capabilities(self) -> ProviderCapabilities:
        model = ModelCapabilities(name="plain", seed=False)
        return ProviderCapabilities("seedless", "plain", {"plain": model})

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        assert request.asked.seed is None, "a model without seeds was sent one"
        return replace(await super().generate(request), seed=None)


class NarrowingModel(DemoProvider):
    """A model whose seed input has a small maximum: it reports the seed it really used."""

    name: ClassVar[str] = "narrow"

    @property
    def capabilities(self) -> ProviderCapabilities:
        return ProviderCapabilities("narrow", "small", {"small": ModelCapabilities(name="small")})

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        assert request.asked.seed is not None, "a seed-taking model was sent no seed"
        narrowed = replace(
            request, asked=replace(request.asked, seed=request.asked.seed % NARROW_RANGE)
        )
        return await super().generate(narrowed)


@pytest.fixture
def providers(demo: DemoProvider) -> dict[str, ImageProvider]:
    return {"demo": demo, "seedless": SeedlessModel(), "narrow": NarrowingModel()}


@pytest.fixture
async def api(api_settings: Settings, providers: dict[str, ImageProvider]) -> AsyncIterator[Api]:
    async with serve_harness(api_settings, providers) as harness:
        yield harness


@pytest.fixture
async def alice(api: Api) -> httpx.AsyncClient:
    await api.user("alice")
    return await api.login("alice")


async def run(api: Api, client: httpx.AsyncClient, **body: Any) -> list[dict[str, Any]]:
    """Create a batch, wait for its end; its tasks from the task API, in order."""
    answer = await client.post("/api/batches", json=body)
    assert answer.status_code in (200, 201), answer.text
    batch = await api.wait_batch(client, answer.json()["batch"]["id"])
    assert batch["status"] == "completed", batch
    tasks: list[dict[str, Any]] = (await client.get(f"/api/batches/{batch['id']}/tasks")).json()[
        "items"
    ]
    return tasks


async def stamped_seed(client: httpx.AsyncClient, task: dict[str, Any]) -> object:
    data = (await client.get(f"/api/images/{task['output_image_id']}/file")).content
    info = provenance.read(data)
    assert info is not None
    return info["seed"]


async def manifest_seeds(client: httpx.AsyncClient, batch_id: int) -> list[str]:
    archive = zipfile.ZipFile(
        io.BytesIO((await client.get(f"/api/batches/{batch_id}/download")).content)
    )
    text = archive.read("manifest.csv").decode("utf-8-sig")
    return [row["seed"] for row in csv.DictReader(io.StringIO(text))]


async def pixels(client: httpx.AsyncClient, task: dict[str, Any]) -> bytes:
    data = (await client.get(f"/api/images/{task['output_image_id']}/file")).content
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


async def test_a_derived_seed_is_recorded_alike_everywhere(
    api: Api, alice: httpx.AsyncClient
) -> None:
    tasks = await run(api, alice, prompt="a lighthouse at dusk", count=3)

    used = [task["seed_used"] for task in tasks]
    assert all(isinstance(seed, int) and 0 <= seed < DERIVED_SEED_LIMIT for seed in used)
    assert len(set(used)) == 3  # copies differ by their seeds
    assert [task["seed"] for task in tasks] == [None] * 3  # what the user gave stays apart
    assert [await stamped_seed(alice, task) for task in tasks] == used
    assert await manifest_seeds(alice, tasks[0]["batch_id"]) == [str(seed) for seed in used]
    single = (await alice.get(f"/api/tasks/{tasks[1]['id']}")).json()
    assert single["seed_used"] == used[1]


async def test_a_rerun_with_the_recorded_seed_makes_the_same_image(
    api: Api, alice: httpx.AsyncClient
) -> None:
    first = await run(api, alice, prompt="a red fox in the snow", count=2)
    for task in first:
        again = await run(api, alice, prompt="a red fox in the snow", seed=task["seed_used"])
        assert again[0]["seed_used"] == task["seed_used"]
        assert await pixels(alice, again[0]) == await pixels(alice, task)
    assert await pixels(alice, first[0]) != await pixels(alice, first[1])


async def test_the_same_request_gets_the_same_seed_and_a_reused_output_keeps_it(
    api: Api, alice: httpx.AsyncClient
) -> None:
    """Derived from the request, so resubmitting is reproducible; --reuse records the seed of
    the output it hands back."""
    first = await run(api, alice, prompt="an old harbour")
    fresh = await run(api, alice, prompt="an old harbour")
    reused = await run(api, alice, prompt="an old harbour", reuse=True)
    assert fresh[0]["seed_used"] == first[0]["seed_used"] is not None
    assert reused[0]["reused"] and reused[0]["seed_used"] == first[0]["seed_used"]
    assert await manifest_seeds(alice, reused[0]["batch_id"]) == [str(first[0]["seed_used"])]


async def test_a_given_seed_is_recorded_unchanged(api: Api, alice: httpx.AsyncClient) -> None:
    big = 2**40 + 7  # beyond the derived range: the user's own is sent as given
    tasks = await run(api, alice, prompt="a blue whale", seed=big)
    assert (tasks[0]["seed"], tasks[0]["seed_used"]) == (big, big)
    assert await stamped_seed(alice, tasks[0]) == big
    assert await manifest_seeds(alice, tasks[0]["batch_id"]) == [str(big)]


async def test_a_model_without_seeds_records_none(api: Api, alice: httpx.AsyncClient) -> None:
    tasks = await run(api, alice, prompt="a teapot", provider="seedless")
    assert (tasks[0]["seed"], tasks[0]["seed_used"]) == (None, None)
    assert await stamped_seed(alice, tasks[0]) is None
    assert await manifest_seeds(alice, tasks[0]["batch_id"]) == [""]


async def test_the_seed_a_provider_narrowed_is_the_one_recorded(
    api: Api, alice: httpx.AsyncClient
) -> None:
    tasks = await run(api, alice, prompt="a kite", provider="narrow", count=2)
    used = [task["seed_used"] for task in tasks]
    assert all(0 <= seed < NARROW_RANGE for seed in used)
    assert [await stamped_seed(alice, task) for task in tasks] == used
    assert await manifest_seeds(alice, tasks[0]["batch_id"]) == [str(seed) for seed in used]


async def stored_seed(app: App, task: Task) -> object:
    image = await app.images.get(task.output_image_id or 0)
    info = provenance.read(await app.blobs.get(image.storage_key))
    assert info is not None
    return info["seed"]


async def test_an_economy_job_records_the_seed_it_sent(settings: Settings) -> None:
    """Gemini Batch Mode: its results carry no seed; the one each request sent is recorded."""
    key = "gemini-test-key-0000"
    fake = FakeGemini(key)
    with fake:
        fake.batches.polls_to_finish = 1
        providers: dict[str, ImageProvider] = {
            "gemini": GeminiBatchProvider(SecretStr(key), fake.url, 10.0)
        }
        app = await build_app(
            settings.model_copy(update={"economy_poll_seconds": 1e-6}), providers=providers
        )
        try:
            specs = prompts("a pear", "a plum")
            batch = await submit(app, specs, provider="gemini", economy=True)
            await asyncio.wait_for(app.economy_runner(batch_ids=[batch.id], drain=True).run(), 10)
            tasks = await app.tasks.page(batch_id=batch.id)
            stamped = [await stored_seed(app, task) for task in tasks]
        finally:
            await app.close()
    [job] = [r.json() for r in fake.requests if r.path.endswith(":batchGenerateContent")]
    inline = job["batch"]["inputConfig"]["requests"]["requests"]
    sent = [item["request"]["generationConfig"]["seed"] for item in inline]
    used = [task.seed_used for task in tasks]
    assert all(isinstance(seed, int) for seed in used) and set(sent) == set(used)
    assert len(set(used)) == len(tasks) == 2
    assert stamped == used
