"""Webhooks: signed POSTs when a batch ends, retried, logged; private addresses refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imagebatch.app import App
from imagebatch.config import Settings
from tests.api.conftest import Api
from tests.fakes.server import FakeServer, Reply, Request
from tests.integration.helpers import prompts, run_to_end, submit
from tests.waiting import wait_until_async


class Receiver(FakeServer):
    """Somebody's webhook endpoint: answers 204 unless told to fail."""

    def handle(self, request: Request) -> Reply:
        return Reply(204)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "prices": {"demo/demo": 0.5},
            "allow_private_urls": True,
            "webhook_retry_delay": 0.05,
        }
    )


async def deliveries(client: httpx.AsyncClient, batch_id: int, status: str) -> list[dict[str, Any]]:
    async def look() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await client.get(f"/api/batches/{batch_id}/webhooks")).json()
        return found

    return await wait_until_async(
        look,
        lambda found: found and all(d["status"] == status for d in found),
        awaiting=f"batch {batch_id}'s webhook deliveries to be {status}",
        every=0.02,
    )


def verify(secret: str, request: Request) -> None:
    stamp = request.headers["x-imagebatch-timestamp"]
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + request.body, hashlib.sha256)
    assert request.headers["x-imagebatch-signature"] == f"v1={mac.hexdigest()}"
    assert abs(int(stamp) - time.time()) < 60


async def test_the_default_webhook_gets_a_signed_post_when_a_batch_completes(
    api: Api, receiver: Receiver
) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        hook = await alice.put("/api/auth/webhook", json={"url": f"{receiver.url}/hooks"})
        secret = hook.json()["secret"]
        assert secret.startswith("whsec_")
        created = (await alice.post("/api/batches", json={"prompt": "p", "count": 2})).json()
        batch_id = created["batch"]["id"]
        [delivery] = await deliveries(alice, batch_id, "delivered")
    assert delivery["event"] == "batch.completed" and delivery["response_status"] == 204
    [request] = receiver.requests
    assert request.path == "/hooks" and request.headers["x-imagebatch-event"] == "batch.completed"
    verify(secret, request)
    payload = json.loads(request.body)
    assert payload["batch"]["id"] == batch_id and payload["batch"]["succeeded"] == 2


async def test_a_failing_receiver_is_retried_with_backoff(api: Api, receiver: Receiver) -> None:
    await api.user("alice")
    receiver.fail_next(Reply(500), Reply(503))
    async with api.session("alice") as alice:
        created = await alice.post(
            "/api/batches",
            json={"prompt": "[demo:hang] p", "webhook_url": f"{receiver.url}/per-batch"},
        )
        batch_id = created.json()["batch"]["id"]
        await api.wait_batch(alice, batch_id, until=["running"])
        await alice.post(f"/api/batches/{batch_id}/cancel")
        [delivery] = await deliveries(alice, batch_id, "delivered")
    assert delivery["event"] == "batch.cancelled" and delivery["attempts"] == 3
    assert [r.path for r in receiver.requests] == ["/per-batch"] * 3
    secret = await api.app.webhook_secrets.of((await api.app.users.by_name("alice")).id)
    verify(secret, receiver.requests[-1])


async def test_webhooks_to_private_addresses_are_refused(app: App) -> None:
    """The server's default: IMAGEBATCH_ALLOW_PRIVATE_URLS off."""
    alice = await app.accounts.create_user("alice", "password-1")
    batch = await submit(app, prompts("p"), owner=alice.owner, webhook_url="http://10.1.2.3/hook")
    await run_to_end(app, [batch.id])
    dispatcher = app.webhook_dispatcher()
    async with dispatcher.client() as client:
        assert await dispatcher.send_due(client) == 1
    [delivery] = await app.webhooks.for_batch(batch.id)
    assert delivery.status == "failed" and delivery.attempts == 1
    assert "private" in (delivery.last_error or "")
