"""Own API keys (BYOK): stored encrypted, never shown again, used for the owner's tasks at
no credit cost; a removed or rejected own key fails those tasks without touching the pool."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from imagebatch.config import Settings
from imagebatch.providers.base import ImageProvider
from imagebatch.providers.demo import DemoProvider
from imagebatch.providers.openai_images import OpenAIImagesProvider
from tests.api.conftest import Api
from tests.fakes.openai_images import FakeOpenAI

SERVER_KEY = "sk-server-key-1111"
ALICE_KEY = "sk-alice-own-key-2222"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(f"{SERVER_KEY},{ALICE_KEY}") as server:
        yield server


@pytest.fixture
def providers(demo: DemoProvider, fake: FakeOpenAI) -> dict[str, ImageProvider]:
    openai = OpenAIImagesProvider(SecretStr(SERVER_KEY), fake.base_url, 10.0)
    return {"demo": demo, "openai": openai}


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"prices": {"openai/gpt-image-1": 0.25}})


def keys_used(fake: FakeOpenAI) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in fake.requests]


async def test_own_key_is_stored_encrypted_and_never_shown(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        saved = await alice.put("/api/auth/provider-keys/openai", json={"api_key": ALICE_KEY})
        assert saved.status_code == 200
        assert saved.json()["last4"] == "2222" and ALICE_KEY not in saved.text
        assert ALICE_KEY not in (await alice.get("/api/auth/provider-keys")).text
        demo = await alice.put("/api/auth/provider-keys/demo", json={"api_key": "whatever-key"})
        assert demo.status_code == 422
    stored = await api.app.db.read(
        lambda conn: conn.exec_driver_sql("SELECT key_encrypted FROM provider_keys").scalar()
    )
    assert ALICE_KEY not in str(stored)


async def test_batches_on_an_own_key_use_it_and_cost_nothing(api: Api, fake: FakeOpenAI) -> None:
    await api.user("alice", credits=1.0)
    await api.user("bob", credits=1.0)
    async with api.session("alice") as alice, api.session("bob") as bob:
        await alice.put("/api/auth/provider-keys/openai", json={"api_key": ALICE_KEY})
        mine = await alice.post(
            "/api/batches", json={"prompt": "p", "provider": "openai", "count": 8}
        )
        assert mine.status_code == 201, mine.text
        assert mine.json()["estimate"]["total"] == 0
        await api.wait_batch(alice, mine.json()["batch"]["id"])
        assert (await alice.get("/api/auth/me")).json()["credits"] == 1.0
        assert keys_used(fake) == [ALICE_KEY] * 8
        theirs = await bob.post(
            "/api/batches", json={"prompt": "p", "provider": "openai", "count": 2}
        )
        await api.wait_batch(bob, theirs.json()["batch"]["id"])
        assert (await bob.get("/api/auth/me")).json()["credits"] == 0.5
        assert keys_used(fake)[8:] == [SERVER_KEY] * 2


async def test_a_removed_own_key_fails_its_tasks_instead_of_spending_the_server_key(
    api: Api, fake: FakeOpenAI
) -> None:
    await api.user("root", admin=True)
    await api.user("alice")
    async with api.session("root") as root:
        await root.put("/api/admin/settings", json={"global_concurrency": 1})
    async with api.session("alice") as alice:
        await alice.put("/api/auth/provider-keys/openai", json={"api_key": ALICE_KEY})
        blocker = await alice.post("/api/batches", json={"prompt": "[demo:hang] x"})
        await api.wait_batch(alice, blocker.json()["batch"]["id"], until=["running"])
        created = await alice.post("/api/batches", json={"prompt": "p", "provider": "openai"})
        await alice.delete("/api/auth/provider-keys/openai")
        await alice.post(f"/api/batches/{blocker.json()['batch']['id']}/cancel")
        batch = await api.wait_batch(alice, created.json()["batch"]["id"])
        task = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"][0]
    assert batch["status"] == "completed_with_failures"
    assert task["error_kind"] == "AuthFailed" and "your own API key" in task["error_message"]
    assert fake.requests == []


async def test_a_rejected_own_key_is_reported_masked_and_the_pool_stays(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        wrong = "sk-alice-wrong-key-9999"
        await alice.put("/api/auth/provider-keys/openai", json={"api_key": wrong})
        created = await alice.post("/api/batches", json={"prompt": "p", "provider": "openai"})
        batch = await api.wait_batch(alice, created.json()["batch"]["id"])
        task = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"][0]
    assert "your own API key …9999 was rejected" in task["error_message"]
    assert wrong not in task["error_message"]
    openai = api.app.providers["openai"]
    assert openai.keys.active() == [SERVER_KEY]  # type: ignore[attr-defined]
