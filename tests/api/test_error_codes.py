"""Errors carry a stable machine `code` (and its `params`) beside the English message, so
pages can say what happened in the reader's language: a taken user name is not a batch
that cannot change state."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagebatch.config import Settings
from imagebatch.providers.base import ImageProvider
from tests.api.conftest import PASSWORD, Api, png, serve_harness
from tests.api.raised_codes import catalogue_keys, raised_codes

ROOT = Path(__file__).resolve().parents[2]
I18N = ROOT / "src" / "imagebatch" / "web" / "static" / "i18n"


async def test_a_taken_user_name_is_user_exists_with_the_name(api: Api) -> None:
    await api.user("root", admin=True)
    async with api.session("root") as admin:
        assert (await admin.post("/api/admin/users", json={"name": "carol"})).status_code == 201
        duplicate = await admin.post("/api/admin/users", json={"name": "carol"})
    assert duplicate.status_code == 409
    error = duplicate.json()["error"]
    assert error["type"] == "Conflict"
    assert error["code"] == "user_exists"
    assert error["params"] == {"name": "carol"}
    assert "carol" in error["message"]


async def test_a_state_change_a_batch_cannot_make_is_batch_state(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        made = await alice.post("/api/batches", json={"prompt": "a fox"})
        batch_id = made.json()["batch"]["id"]
        await api.wait_batch(alice, batch_id)
        refused = await alice.post(f"/api/batches/{batch_id}/cancel")
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("IllegalTransition", "batch_state")
        assert error["params"] == {"status": "completed", "to": "cancelled"}
        task = (await alice.get(f"/api/batches/{batch_id}/tasks")).json()["items"][0]
        again = await alice.post(f"/api/tasks/{task['id']}/retry")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "task_state"


async def test_other_errors_have_a_code_from_their_type(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        missing = await alice.get("/api/batches/999999")
        unknown_path = await alice.get("/api/no-such-thing")
        invalid = await alice.post("/api/batches", json={"prompt": ""})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert unknown_path.json()["error"]["code"] == "not_found"
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "input_error"
    assert invalid.json()["error"]["params"] == {}


async def test_the_schema_documents_code_and_params(api: Api) -> None:
    async with api.client() as client:
        schema = (await client.get("/openapi.json")).json()
    body = schema["components"]["schemas"]["ErrorBody"]
    assert {"type", "code", "message"} <= set(body["required"])
    assert "params" in body["properties"]


async def test_the_schema_documents_the_issues_code_and_params(api: Api) -> None:
    async with api.client() as client:
        schema = (await client.get("/openapi.json")).json()
    issue = schema["components"]["schemas"]["IssueOut"]
    assert {"code", "params", "where", "problem", "hint"} <= set(issue["properties"])


def test_every_code_the_server_raises_has_words_in_both_catalogues() -> None:
    codes = raised_codes()
    assert len(codes) > 60, codes  # the search finds them at all
    for lang in ("en", "zh-CN"):
        catalogue = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
        missing = {
            code: where
            for code, where in codes.items()
            if not any(key in catalogue for key in catalogue_keys(code))
        }
        assert missing == {}, f"{lang}: codes without issue.<code> or error.<code>: {missing}"


def test_every_code_the_server_raises_is_documented() -> None:
    docs = (ROOT / "docs" / "server-api.md").read_text(encoding="utf-8")
    undocumented = {
        code: where for code, where in raised_codes().items() if f"`{code}`" not in docs
    }
    assert undocumented == {}


# ---- a table of representative failures, from a live server ----


@pytest.fixture
async def strict(api_settings: Settings, providers: dict[str, ImageProvider]) -> AsyncIterator[Api]:
    """No queue worker (what is submitted stays active), private URLs refused."""
    settings = api_settings.model_copy(update={"allow_private_urls": False})
    async with serve_harness(settings, providers, workers=False) as harness:
        await harness.user("root", admin=True)
        async with harness.session("root") as root:
            limits = {"max_tasks_per_batch": 3, "max_image_bytes": 2048}
            answer = await root.put("/api/admin/settings", json=limits)
            assert answer.status_code == 200, answer.text
        yield harness


def _issue(answer: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    issues: list[dict[str, Any]] = body.get("skipped") or body["error"]["issues"]
    return issues[0]


def _error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    return error


DRY = "/api/batches?dry_run=true"


async def _issues_of_inputs(alice: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    table = {"table": ("t.csv", b"prompt,colour\ncat,red\n")}
    rows = [{"prompt": "cat", "provider": "nope"}] * 2
    url = [{"prompt": "cat", "reference_images": "http://127.0.0.1/x.png"}]
    return {
        "bad column": _issue(await alice.post("/api/tables/parse", files=table)),
        "bad value": _issue(
            await alice.post(DRY, json={"rows": [{"prompt": "cat", "aspect_ratio": "5:7"}]})
        ),
        "too many tasks": _issue(await alice.post(DRY, json={"rows": [{"prompt": "c"}] * 4})),
        "file too large": _issue(
            await alice.post("/api/assets", files={"files": ("big.png", BIG)}), 201
        ),
        "not an image": _issue(
            await alice.post("/api/assets", files={"files": ("notes.txt", b"hello")}), 201
        ),
        "prompt too long": _issue(await alice.post(DRY, json={"prompt": "猫" * 8_001})),
        "unknown provider in a row": _issue(await alice.post(DRY, json={"rows": rows})),
        "refused URL": _issue(await alice.post("/api/batches", json={"rows": url})),
    }


async def test_representative_failures_carry_their_code_and_params(strict: Api) -> None:
    await strict.user("alice", credits=1.0)
    async with strict.session("alice") as alice:
        issues = await _issues_of_inputs(alice)
        short = _error(await alice.post("/api/batches", json={"prompt": "c", "count": 3}), 402)
        await strict.user("bob")
        async with strict.session("bob") as bob:
            too_big = {"prompt": "c", "params": {"pad": "x" * 3_000_000}}
            body = _error(await bob.post("/api/batches", json=too_big), 413)
    assert {name: (i["code"], i["params"]) for name, i in issues.items()} == {
        "bad column": ("unknown_column", {"column": "colour", "known": KNOWN_COLUMNS}),
        "bad value": (
            "value_ratio",
            {"value": "5:7", "allowed": RATIOS, "row": 1, "column": "aspect_ratio"},
        ),
        "too many tasks": ("too_many_tasks", {"n": 4, "max": 3}),
        "file too large": ("file_too_large", {"name": "big.png", "size": SIZE, "limit": "2 KB"}),
        "not an image": ("not_image", {"name": "notes.txt"}),
        "prompt too long": ("prompt_too_long", {"chars": 8_001, "max": 8_000}),
        "unknown provider in a row": (
            "unknown_provider",
            {"provider": "nope", "known": "demo", "more": 1, "row": 1, "column": "provider"},
        ),
        "refused URL": (
            "url_private",
            {
                "url": "http://127.0.0.1/x.png",
                "address": "127.0.0.1",
                "row": 1,
                "column": "reference_images",
            },
        ),
    }
    # the English words stay beside the code, as before
    assert issues["bad column"]["problem"] == "is not a known column"
    assert (short["code"], short["params"]) == (
        "credits_short",
        {"needed": 1.5, "available": 1.0, "shortfall": 0.5},
    )
    assert (body["code"], body["params"]) == ("body_too_large", {"limit": "2 MB"})


KNOWN_COLUMNS = (
    "prompt/提示词, negative_prompt/负面提示词, aspect_ratio/图片比例, resolution/分辨率, "
    "count/生成数量, filename/文件名, reference_images/参考图, seed/种子, provider/服务商, "
    "model/模型"
)
RATIOS = "1:1 2:3 3:2 3:4 4:3 16:9 9:16 21:9"
#: over the 2 KB limit by its size alone (it is not looked into)
BIG = png() + b"0" * 4_000
SIZE = f"{len(BIG) / 1024:.1f}".removesuffix(".0") + " KB"


async def test_a_full_queue_and_a_throttled_login_carry_their_code_and_params(
    strict: Api,
) -> None:
    async with strict.session("root") as root:
        limit = await root.put("/api/admin/settings", json={"max_active_tasks_per_user": 2})
        assert limit.status_code == 200, limit.text
    await strict.user("alice")
    async with strict.session("alice") as alice:
        full = _error(await alice.post("/api/batches", json={"prompt": "c", "count": 3}), 429)
    assert (full["code"], full["params"]) == (
        "active_tasks",
        {"limit": 2, "active": 0, "requested": 3},
    )
    async with strict.client() as client:
        wrong = {"name": "alice", "password": "a wrong guess"}
        for _ in range(10):
            assert (await client.post("/api/auth/login", json=wrong)).status_code == 401
        right = {"name": "alice", "password": PASSWORD}
        throttled = _error(await client.post("/api/auth/login", json=right), 429)
    assert throttled["code"] == "login_throttled_pair"
    assert throttled["params"] == {"minutes": 15}
