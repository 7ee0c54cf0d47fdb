"""Data between users (issue 13, points 2 and 6): `reuse` takes only the caller's own outputs;
uploading another user's image (the same bytes) reveals nothing of that user; a row that names
another provider than its batch is checked, priced and run as that provider's default model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from imagebatch.config import Settings
from imagebatch.providers.base import ImageProvider
from imagebatch.providers.demo import DemoProvider
from imagebatch.providers.gemini import GeminiProvider
from imagebatch.providers.openai_images import OpenAIImagesProvider
from tests.api.conftest import DEMO_PRICE, Api, png
from tests.fakes.openai_images import FakeOpenAI

OPENAI_KEY = "sk-isolation-test-key"
OPENAI_PRICE = 0.25
SECRET_NAME = "alice-secret-plan"
SECRET_PROMPT = "alice confidential watercolour"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(OPENAI_KEY)
    with server:
        yield server


@pytest.fixture
def providers(demo: DemoProvider, fake: FakeOpenAI) -> dict[str, ImageProvider]:
    return {
        "demo": demo,
        "openai": OpenAIImagesProvider(SecretStr(OPENAI_KEY), fake.base_url, 10.0),
        # known, but without a key on this server
        "gemini": GeminiProvider(None, "https://generativelanguage.googleapis.com", 10.0),
    }


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    prices = {"demo/demo": DEMO_PRICE, "openai/gpt-image-1": OPENAI_PRICE}
    return settings.model_copy(update={"prices": prices, "allow_private_urls": True})


async def credits(client: httpx.AsyncClient) -> float:
    me: dict[str, Any] = (await client.get("/api/auth/me")).json()
    return float(me["credits"])


async def run(api: Api, client: httpx.AsyncClient, **body: Any) -> tuple[dict[str, Any], Any]:
    """Submit a JSON batch, wait for it to end: (the answer, its tasks)."""
    answer = await client.post("/api/batches", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    batch = await api.wait_batch(client, created["batch"]["id"])
    assert batch["status"] == "completed", batch
    tasks = (await client.get(f"/api/batches/{batch['id']}/tasks")).json()["items"]
    return created, tasks


# --- reuse ------------------------------------------------------------------------------------

REQUEST = {"prompt": "a red fox in the snow", "seed": 7, "reuse": True}


async def test_reuse_never_takes_another_users_output(api: Api) -> None:
    await api.user("alice", credits=10)
    await api.user("bob", credits=0)
    await api.user("carol", credits=10)
    async with api.session("alice") as alice, api.session("bob") as bob:
        _, [made] = await run(api, alice, **REQUEST)
        alices = made["output_image_id"]
        # Before: bob (0 credits) got alice's image for free. Now he must pay for his own.
        broke = await bob.post("/api/batches", json=REQUEST)
        assert broke.status_code == 402, broke.text
        assert (await bob.get(f"/api/images/{alices}/file")).status_code == 404

    async with api.session("carol") as carol:
        created, [task] = await run(api, carol, **REQUEST)
        assert created["estimate"]["reused"] == 0
        assert created["estimate"]["total"] == pytest.approx(DEMO_PRICE)
        assert not task["reused"] and task["output_image_id"] != alices
        assert task["credits"] == pytest.approx(DEMO_PRICE)
        assert await credits(carol) == pytest.approx(10 - DEMO_PRICE)
        assert (await carol.get(f"/api/images/{alices}")).status_code == 404


async def test_reuse_of_ones_own_output_is_free(api: Api) -> None:
    await api.user("alice", credits=10)
    async with api.session("alice") as alice:
        _, [made] = await run(api, alice, **REQUEST)
        before = await credits(alice)
        created, [again] = await run(api, alice, **REQUEST)
        assert created["estimate"]["reused"] == 1 and created["estimate"]["total"] == 0
        assert again["reused"] and again["output_image_id"] == made["output_image_id"]
        assert again["credits"] == 0
        assert await credits(alice) == pytest.approx(before)


# --- the same bytes as another user's image ---------------------------------------------------


async def alices_output(api: Api, alice: httpx.AsyncClient) -> tuple[dict[str, Any], bytes]:
    """An edit of alice's secret file with her secret prompt: (its task, the output's bytes)."""
    files = [("images", (f"{SECRET_NAME}.png", png(color="purple"), "image/png"))]
    answer = await alice.post("/api/batches", data={"prompt": SECRET_PROMPT}, files=files)
    assert answer.status_code == 201, answer.text
    await api.wait_batch(alice, answer.json()["batch"]["id"])
    [task] = (await alice.get(f"/api/batches/{answer.json()['batch']['id']}/tasks")).json()["items"]
    data = (await alice.get(f"/api/images/{task['output_image_id']}/file")).content
    mine = (await alice.get(f"/api/images/{task['output_image_id']}")).json()
    assert mine["parent_image_id"] == task["input_image_id"]  # alice's own view is whole
    assert mine["original_name"] == f"{SECRET_NAME}_edit"
    return task, data


def assert_nothing_of(task: dict[str, Any], answers: list[httpx.Response]) -> None:
    """None of `answers` shows alice's file name, prompt or colour, her input image's id or
    her batch's id."""
    secrets = [SECRET_NAME, SECRET_PROMPT, "purple"]
    for answer in answers:
        assert answer.status_code < 400, (answer.request.url, answer.text)
        # a file's bytes are those bob uploaded himself: what they say he knew already
        body = answer.text if "json" in answer.headers["content-type"] else ""
        shown = body + json.dumps(dict(answer.headers))
        for secret in secrets:
            assert secret not in shown, (answer.request.url, shown)
        if "json" in answer.headers["content-type"]:
            images, batches = ids_in(answer.json())
            assert task["input_image_id"] not in images, (answer.request.url, answer.text)
            assert task["batch_id"] not in batches, (answer.request.url, answer.text)


def ids_in(value: Any) -> tuple[set[int], set[int]]:
    """The image ids and batch ids a JSON answer holds (an image object is one with a sha256)."""
    images: set[int] = set()
    batches: set[int] = set()
    if isinstance(value, dict):
        if "sha256" in value:
            images.add(value["id"])
        for key, item in value.items():
            if key.endswith(("image_id", "image_ids")):
                images |= set(item if isinstance(item, list) else [item])
            elif key == "batch_id":
                batches.add(item)
            elif key == "batch" and isinstance(item, dict):
                batches.add(item["id"])
            found = ids_in(item)
            images |= found[0]
            batches |= found[1]
    elif isinstance(value, list):
        for item in value:
            found = ids_in(item)
            images |= found[0]
            batches |= found[1]
    return images, batches


async def test_uploading_another_users_image_reveals_nothing_of_them(api: Api) -> None:
    await api.user("alice")
    await api.user("bob")
    async with api.session("alice") as alice, api.session("bob") as bob:
        task, data = await alices_output(api, alice)
        output = task["output_image_id"]
        # bob got these bytes elsewhere, and puts them in his library
        added = await bob.post("/api/assets", files=[("files", ("holiday.png", data, "image/png"))])
        assert added.status_code == 201, added.text
        [asset] = added.json()["added"]
        assert asset["image"]["id"] == output  # stored once, by content: the case under test
        seen = await bob.get(f"/api/images/{output}")
        assert seen.json()["original_name"] == "holiday.png" and seen.json()["kind"] == "input"
        lineage = await bob.get(f"/api/images/{output}/lineage")
        assert [image["id"] for image in lineage.json()] == [output]
        edit = await bob.post(f"/api/images/{output}/edit", json={"prompt": "at night"})
        assert edit.status_code == 201, edit.text
        edited = await api.wait_batch(bob, edit.json()["batch"]["id"])
        tasks = await bob.get(f"/api/batches/{edited['id']}/tasks")
        result = tasks.json()["items"][0]["output_image_id"]
        answers = [
            added,
            seen,
            lineage,
            edit,
            tasks,
            await bob.get(f"/api/images/{output}/file?download=1"),
            await bob.get(f"/api/images/{result}"),
            await bob.get(f"/api/images/{result}/lineage"),
            await bob.get("/api/assets"),
            await bob.post(f"/api/assets/from-image/{output}"),
            await bob.get("/api/records"),
            await bob.get("/api/records", params={"search": "watercolour"}),
            await bob.get("/api/batches"),
        ]
        assert_nothing_of(task, answers)
        assert [i["id"] for i in (await bob.get(f"/api/images/{result}/lineage")).json()] == [
            result,
            output,
        ]
        assert (await bob.get(f"/api/images/{task['input_image_id']}")).status_code == 404
        assert (await bob.get(f"/api/batches/{task['batch_id']}")).status_code == 404


async def test_an_upload_through_a_batch_is_not_named_by_its_first_uploader(api: Api) -> None:
    await api.user("alice")
    await api.user("bob")
    async with api.session("alice") as alice, api.session("bob") as bob:
        task, data = await alices_output(api, alice)
        files = [("images", ("mine.png", data, "image/png"))]
        answer = await bob.post("/api/batches", data={"prompt": "sepia"}, files=files)
        assert answer.status_code == 201, answer.text
        batch = await api.wait_batch(bob, answer.json()["batch"]["id"])
        [bobs] = (await bob.get(f"/api/batches/{batch['id']}/tasks")).json()["items"]
        assert bobs["input_image_id"] == task["output_image_id"]
        seen = await bob.get(f"/api/images/{bobs['input_image_id']}")
        assert seen.json()["original_name"] is None and seen.json()["parent_image_id"] is None
        download = await bob.get(f"/api/images/{bobs['input_image_id']}/file?download=1")
        assert_nothing_of(task, [answer, seen, download])


# --- a row that names another provider than its batch -----------------------------------------

ROWS = [{"prompt": "on the batch's provider"}, {"prompt": "on openai", "provider": "openai"}]


@pytest.mark.parametrize("batch_model", [None, "demo"])
async def test_a_row_on_another_provider_runs_as_its_default_model(
    api: Api, fake: FakeOpenAI, batch_model: str | None
) -> None:
    await api.user("alice", credits=10)
    async with api.session("alice") as alice:
        body = {"rows": ROWS, "provider": "demo", "model": batch_model}
        dry = await alice.post("/api/batches?dry_run=1", json=body)
        assert dry.status_code == 201, dry.text
        lines = {(x["provider"], x["model"]): x for x in dry.json()["estimate"]["lines"]}
        assert set(lines) == {("demo", "demo"), ("openai", "gpt-image-1")}
        assert lines["openai", "gpt-image-1"]["price_per_image"] == pytest.approx(OPENAI_PRICE)
        created, tasks = await run(api, alice, **body)
        assert created["estimate"]["total"] == pytest.approx(DEMO_PRICE + OPENAI_PRICE)
        assert [(t["provider"], t["model"]) for t in tasks] == [
            ("demo", "demo"),
            ("openai", "gpt-image-1"),
        ]
        assert tasks[1]["credits"] == pytest.approx(OPENAI_PRICE)
        assert [r.json()["model"] for r in fake.requests] == ["gpt-image-1"]
        assert await credits(alice) == pytest.approx(10 - DEMO_PRICE - OPENAI_PRICE)


async def test_a_row_is_checked_against_its_own_provider(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        # demo takes seeds, openai does not: the row on openai must be refused, at its row
        rows = [{"prompt": "a", "seed": 3}, {"prompt": "b", "seed": 3, "provider": "openai"}]
        answer = await alice.post("/api/batches", json={"rows": rows})
        assert answer.status_code == 422, answer.text
        [issue] = answer.json()["error"]["issues"]
        assert issue["where"] == "row 2" and "seed" in issue["problem"]


@pytest.mark.parametrize(
    ("provider", "problem"), [("gemini", "is not configured"), ("nope", "does not exist")]
)
async def test_a_row_naming_an_unusable_provider_is_refused_at_its_row(
    api: Api, provider: str, problem: str
) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        rows = [{"prompt": "a"}] + [{"prompt": f"b{i}", "provider": provider} for i in range(3)]
        answer = await alice.post("/api/batches", json={"rows": rows})
        assert answer.status_code == 422, answer.text
        [issue] = answer.json()["error"]["issues"]
        assert issue["where"] == "row 2, column provider", issue
        assert f"provider {provider!r} {problem}" in issue["problem"]
        assert "2 more rows name it" in issue["problem"]
        assert (await alice.get("/api/batches")).json()["items"] == []
