"""Fair use (issue 13, point 8): one user cannot fill the queue past their share of unfinished
tasks, nor hold unbounded live streams; parallel retries of one batch requeue and reserve once.

The server here runs no queue worker, so submitted tasks stay pending (active) until a test
drains them with a worker of its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse

from imagebatch.config import Settings
from imagebatch.domain.credits import from_micros
from imagebatch.providers.base import ImageProvider
from imagebatch.web import install_web
from tests.api.conftest import DEMO_PRICE, Api, serve_harness, start_server


@pytest.fixture
async def idle(api_settings: Settings, providers: dict[str, ImageProvider]) -> AsyncIterator[Api]:
    """The API harness without queue workers: what is submitted stays pending."""
    async with serve_harness(api_settings, providers, workers=False) as harness:
        yield harness


async def admin_sets(api: Api, **values: int) -> None:
    await api.user("root", admin=True)
    async with api.session("root") as root:
        answer = await root.put("/api/admin/settings", json=values)
        assert answer.status_code == 200, answer.text


async def owner(api: Api, name: str) -> str:
    """The owner key of the user with this name (data is owned by the user's id)."""
    return (await api.app.users.by_name(name)).owner


async def active_tasks(api: Api, name: str) -> int:
    batches = await api.app.batches.page(await owner(api, name))
    counts = [await api.app.batches.task_counts(b.id) for b in batches]
    return sum(c["pending"] + c["running"] for c in counts)


async def balance(client: httpx.AsyncClient) -> float:
    credits: float = (await client.get("/api/auth/me")).json()["credits"]
    return credits


# ---- max_active_tasks_per_user ----


async def test_a_batch_past_the_active_task_limit_answers_429_with_the_figures(idle: Api) -> None:
    await admin_sets(idle, max_active_tasks_per_user=5)
    await idle.user("alice")
    await idle.user("bob")
    async with idle.session("alice") as alice:
        first = await alice.post("/api/batches", json={"prompt": "p", "count": 3})
        assert first.status_code == 201, first.text
        before = await balance(alice)

        refused = await alice.post("/api/batches", json={"prompt": "q", "count": 3})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        error = refused.json()["error"]
        assert error["type"] == "TooManyActiveTasks"
        assert (error["limit"], error["active"], error["requested"]) == (5, 3, 3)
        assert "at most 5" in error["message"]
        # Nothing was enqueued, nothing reserved.
        assert await active_tasks(idle, "alice") == 3
        assert len(await idle.app.batches.page(await owner(idle, "alice"))) == 1
        assert await balance(alice) == before

        dry = await alice.post(
            "/api/batches", params={"dry_run": 1}, json={"prompt": "q", "count": 3}
        )
        assert dry.status_code == 429 and dry.json()["error"]["active"] == 3
        assert (
            await alice.post("/api/batches", json={"prompt": "q", "count": 2})
        ).status_code == 201

        # Another user's share is their own.
        async with idle.session("bob") as bob:
            assert (
                await bob.post("/api/batches", json={"prompt": "b", "count": 5})
            ).status_code == 201

        # Finished (here: cancelled) tasks no longer count.
        await alice.post(f"/api/batches/{first.json()['batch']['id']}/cancel")
        again = await alice.post("/api/batches", json={"prompt": "r", "count": 3})
        assert again.status_code == 201, again.text
    assert await active_tasks(idle, "alice") == 5


async def test_parallel_batches_cannot_pass_the_limit_together(idle: Api) -> None:
    """The count and the insert are one transaction, serialised per user: of 20 batches sent at
    once against a limit of 10 tasks, exactly 10 are accepted."""
    await admin_sets(idle, max_active_tasks_per_user=10)
    await idle.user("alice")
    alice = await idle.bearer("alice")
    answers = await asyncio.gather(
        *(alice.post("/api/batches", json={"prompt": f"p{n}"}) for n in range(20))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 10 + [429] * 10, [a.text for a in answers if a.status_code >= 500]
    assert await active_tasks(idle, "alice") == 10
    assert await balance(alice) == pytest.approx(100 - 10 * DEMO_PRICE)


# ---- max_event_streams_per_user ----


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # per process, not the DB
async def test_one_stream_too_many_closes_the_users_oldest(idle: Api) -> None:
    await admin_sets(idle, max_event_streams_per_user=3)
    await idle.user("alice")
    await idle.user("bob")
    alice = await idle.login("alice")
    bob = await idle.login("bob")
    mine = (await alice.post("/api/batches", json={"prompt": "a"})).json()["batch"]["id"]
    his = (await bob.post("/api/batches", json={"prompt": "b"})).json()["batch"]["id"]
    async with AsyncExitStack() as stack:
        bobs = await open_stream(stack, bob, his)
        streams = [await open_stream(stack, alice, mine) for _ in range(3)]
        streams.append(await open_stream(stack, alice, mine))  # one more than allowed

        closed = await next_event(streams[0])
        assert closed.event == "closed"
        assert json.loads(closed.data)["reason"] == "too_many_streams"
        with pytest.raises(StopAsyncIteration):  # and then the stream ends
            await next_event(streams[0])

        # The three newest, and bob's, are alive: they see their batch paused.
        await alice.post(f"/api/batches/{mine}/pause")
        await bob.post(f"/api/batches/{his}/pause")
        for stream in [*streams[1:], bobs]:
            update = await next_event(stream)
            assert (update.event, json.loads(update.data)["status"]) == ("batch", "paused")


async def open_stream(
    stack: AsyncExitStack, client: httpx.AsyncClient, batch_id: int
) -> AsyncIterator[ServerSentEvent]:
    """A live stream, registered: its first event (the snapshot) has arrived."""
    source = await stack.enter_async_context(
        aconnect_sse(client, "GET", f"/api/batches/{batch_id}/events")
    )
    stream = source.aiter_sse()
    assert (await next_event(stream)).event == "batch"
    return stream


async def next_event(stream: AsyncIterator[ServerSentEvent]) -> ServerSentEvent:
    async with asyncio.timeout(5):
        return await anext(stream)


# ---- retries lock what they requeue ----


async def test_parallel_retries_of_one_batch_requeue_and_reserve_once(idle: Api) -> None:
    await idle.user("alice")
    alice = await idle.bearer("alice")
    created = await alice.post("/api/batches", json={"prompt": "[demo:reject] x", "count": 4})
    batch_id = created.json()["batch"]["id"]
    worker = idle.app.worker(batch_ids=[batch_id], drain=True)
    await asyncio.wait_for(worker.run(), 10)  # every task fails: the provider rejects it
    assert (await alice.get(f"/api/batches/{batch_id}")).json()["failed"] == 4
    assert await balance(alice) == 100  # released

    answers = await asyncio.gather(
        *(alice.post(f"/api/batches/{batch_id}/retry") for _ in range(10))
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["retried"] for a in answers) == [0] * 9 + [4]
    batch = (await alice.get(f"/api/batches/{batch_id}")).json()
    assert (batch["failed"], batch["status"]) == (0, "running")
    tasks: list[dict[str, Any]] = (await alice.get(f"/api/batches/{batch_id}/tasks")).json()[
        "items"
    ]
    assert [t["status"] for t in tasks] == ["pending"] * 4
    assert await balance(alice) == pytest.approx(100 - 4 * DEMO_PRICE)  # reserved once
    credits = await idle.app.ledger.batch(batch_id)
    assert from_micros(credits.reserved) == pytest.approx(2 * 4 * DEMO_PRICE)  # create + retry
    assert credits.balanced


async def test_parallel_retries_of_one_task_requeue_it_once(idle: Api) -> None:
    await idle.user("alice")
    alice = await idle.bearer("alice")
    created = await alice.post("/api/batches", json={"prompt": "[demo:reject] x"})
    batch_id = created.json()["batch"]["id"]
    await asyncio.wait_for(idle.app.worker(batch_ids=[batch_id], drain=True).run(), 10)
    task_id = (await alice.get(f"/api/batches/{batch_id}/tasks")).json()["items"][0]["id"]

    answers = await asyncio.gather(*(alice.post(f"/api/tasks/{task_id}/retry") for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    assert await balance(alice) == pytest.approx(100 - DEMO_PRICE)
    assert (await idle.app.ledger.batch(batch_id)).balanced


# ---- the admin settings page ----


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_admin_settings_page_offers_both_limits_in_both_languages(idle: Api) -> None:
    server, task, url = await start_server(idle.app, workers=False, extra=install_web)
    try:
        await idle.user("root", admin=True)
        site = Api(idle.app, url, idle.opened)
        for lang, label in (
            ("en", "Unfinished tasks per user"),
            ("zh-CN", "每位用户的未完成任务上限"),
        ):
            root = await site.login("root")
            root.headers["accept-language"] = lang
            page = (await root.get("/admin/settings")).text
            assert 'id="set-max_active_tasks_per_user"' in page and 'max="10000000"' in page
            assert 'id="set-max_event_streams_per_user"' in page
            assert label in page
        script = (await site.client().get("/static/js/pages/admin_settings.js")).text
        assert '"max_active_tasks_per_user"' in script and '"max_event_streams_per_user"' in script
    finally:
        server.should_exit = True
        await task
