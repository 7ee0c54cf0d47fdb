"""Economy batches through HTTP: the estimate shows the saving, credits reserve the discounted
price, and `serve` runs the batch as one provider batch job (OpenAI fake on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from imagebatch.config import Settings
from imagebatch.providers.base import ImageProvider
from imagebatch.providers.demo import DemoProvider
from imagebatch.providers.openai_batch import OpenAIBatchProvider
from tests.api.conftest import Api
from tests.fakes.openai_images import FakeOpenAI

KEY = "sk-test-key-0000"
PRICE = 0.2


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(KEY) as server:
        server.batches.polls_to_finish = 1
        yield server


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"prices": {"openai/gpt-image-1": PRICE}, "economy_poll_seconds": 0.05}
    )


@pytest.fixture
def providers(demo: DemoProvider, fake: FakeOpenAI) -> dict[str, ImageProvider]:
    return {"demo": demo, "openai": OpenAIBatchProvider(SecretStr(KEY), fake.base_url, 10.0)}


async def test_an_economy_batch_shows_its_saving_and_runs_as_one_job(
    api: Api, fake: FakeOpenAI
) -> None:
    await api.user("alice", credits=10)
    async with api.session("alice") as alice:
        body = {"prompt": "a {cat|dog}", "count": 2, "provider": "openai", "economy": True}
        answer = await alice.post("/api/batches", json=body)
        assert answer.status_code == 201, answer.text
        created = answer.json()
        estimate = created["estimate"]
        assert estimate["total"] == pytest.approx(4 * PRICE / 2)
        assert estimate["saving"] == pytest.approx(4 * PRICE / 2)
        assert estimate["lines"][0]["discount"] == 0.5
        assert created["batch"]["economy"] is True
        batch = await api.wait_batch(alice, created["batch"]["id"])
        assert batch["status"] == "completed" and batch["succeeded"] == 4
        me = (await alice.get("/api/auth/me")).json()
        assert me["credits"] == pytest.approx(10 - 4 * PRICE / 2)  # the discounted price
    assert len(fake.batches.created) == 1
    assert not [r for r in fake.requests if r.path == "/v1/images/generations"]
    assert (await api.app.ledger.batch(batch["id"])).balanced


async def test_economy_on_a_provider_without_batch_jobs_is_refused(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        answer = await alice.post("/api/batches", json={"prompt": "x", "economy": True})
        assert answer.status_code == 422
        [issue] = answer.json()["error"]["issues"]
        assert issue["where"] == "provider demo" and "batch jobs" in issue["problem"]
        normal = await alice.post("/api/batches?dry_run=1", json={"prompt": "x"})
        assert normal.json()["estimate"]["saving"] == 0


async def test_config_tells_which_providers_offer_economy_and_take_own_keys(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        answer = await alice.get("/api/config")
    assert answer.status_code == 200
    providers = {p["name"]: p for p in answer.json()["providers"]}
    assert providers["openai"]["batch_discount"] == 0.5
    assert providers["openai"]["own_keys"] is True
    assert providers["demo"]["batch_discount"] is None
    assert providers["demo"]["own_keys"] is False
