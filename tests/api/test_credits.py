"""Credits through HTTP: reserved on create, charged on success, released on failure and
cancel (or charged, by policy), reserved again on retry; the ledger always balances."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import DEMO_PRICE, Api


async def credits(client: httpx.AsyncClient) -> float:
    value: float = (await client.get("/api/auth/me")).json()["credits"]
    return value


async def ledger(api: Api, name: str) -> dict[str, Any]:
    async with api.session("root") as root:
        user = next(u for u in (await root.get("/api/admin/users")).json() if u["name"] == name)
        found: dict[str, Any] = (await root.get(f"/api/admin/users/{user['id']}/credits")).json()
        return found


async def assert_balanced(api: Api, batch_id: int) -> None:
    account = await api.app.ledger.batch(batch_id)
    assert account.balanced, account


async def test_success_charges_what_was_reserved(api: Api) -> None:
    await api.user("alice", credits=10)
    await api.user("root", admin=True)
    async with api.session("alice") as alice:
        created = (await alice.post("/api/batches", json={"prompt": "p", "count": 4})).json()
        assert await credits(alice) in (10 - 4 * DEMO_PRICE, 10)  # reserved at once
        await api.wait_batch(alice, created["batch"]["id"])
        assert await credits(alice) == 10 - 4 * DEMO_PRICE
    account = await ledger(api, "alice")
    assert account["totals"] == {"grant": 10, "reserve": 2, "charge": 2, "release": 0}
    assert [e["kind"] for e in account["entries"]][-2:] == ["reserve", "grant"]
    await assert_balanced(api, created["batch"]["id"])


async def test_failure_releases_its_reservation(api: Api) -> None:
    await api.user("alice", credits=10)
    await api.user("root", admin=True)
    async with api.session("alice") as alice:
        created = (
            await alice.post(
                "/api/batches", json={"rows": [{"prompt": "ok"}, {"prompt": "[demo:reject] no"}]}
            )
        ).json()
        batch = await api.wait_batch(alice, created["batch"]["id"])
        assert batch["status"] == "completed_with_failures"
        assert await credits(alice) == 10 - DEMO_PRICE
    totals = (await ledger(api, "alice"))["totals"]
    assert totals["reserve"] == 1 and totals["charge"] == 0.5 and totals["release"] == 0.5
    await assert_balanced(api, batch["id"])


async def test_no_refund_policy_charges_failures(api: Api) -> None:
    await api.user("alice", credits=10)
    await api.user("root", admin=True)
    async with api.session("root") as root:
        changed = await root.put("/api/admin/settings", json={"refund_policy": "no_refund"})
        assert changed.json()["refund_policy"] == "no_refund"
    async with api.session("alice") as alice:
        created = (await alice.post("/api/batches", json={"prompt": "[demo:reject] x"})).json()
        await api.wait_batch(alice, created["batch"]["id"])
        assert await credits(alice) == 10 - DEMO_PRICE
    await assert_balanced(api, created["batch"]["id"])


async def test_cancel_releases_pending_and_running_tasks(api: Api) -> None:
    await api.user("alice", credits=10)
    async with api.session("alice") as alice:
        created = (
            await alice.post("/api/batches", json={"prompt": "[demo:hang] x", "count": 5})
        ).json()
        batch_id = created["batch"]["id"]
        await api.wait_batch(alice, batch_id, until=["running"])
        assert await credits(alice) == 10 - 5 * DEMO_PRICE
        await alice.post(f"/api/batches/{batch_id}/cancel")
        assert await credits(alice) == 10
    await assert_balanced(api, batch_id)


async def test_retry_reserves_again_and_402_when_it_cannot(api: Api) -> None:
    await api.user("alice", credits=1.0)
    async with api.session("alice") as alice:
        created = (
            await alice.post("/api/batches", json={"prompt": "[demo:reject] x", "count": 2})
        ).json()
        batch_id = created["batch"]["id"]
        await api.wait_batch(alice, batch_id)
        assert await credits(alice) == 1.0  # both released
        # Spend half elsewhere, then retrying both (1.0) is more than is left.
        await alice.post("/api/batches", json={"prompt": "fine"})
        refused = await alice.post(f"/api/batches/{batch_id}/retry")
        assert refused.status_code == 402
        assert refused.json()["error"]["shortfall"] == 0.5
        tasks = (await alice.get(f"/api/batches/{batch_id}/tasks")).json()["items"]
        assert {t["status"] for t in tasks} == {"failed"}  # nothing changed
        one = await alice.post(f"/api/tasks/{tasks[0]['id']}/retry")
        assert one.status_code == 200
        await api.wait_batch(alice, batch_id)
    await assert_balanced(api, batch_id)


async def test_a_batch_the_balance_cannot_cover_answers_402_and_creates_nothing(api: Api) -> None:
    await api.user("alice", credits=1.0)
    async with api.session("alice") as alice:
        answer = await alice.post("/api/batches", json={"prompt": "p", "count": 3})
        assert answer.status_code == 402
        error = answer.json()["error"]
        assert error["needed"] == 1.5 and error["available"] == 1.0 and error["shortfall"] == 0.5
        assert (await alice.get("/api/batches")).json()["items"] == []
        assert await credits(alice) == 1.0


async def test_admin_grants_credits(api: Api) -> None:
    alice = await api.user("alice", credits=0)
    await api.user("root", admin=True)
    async with api.session("root") as root:
        granted = await root.post(
            f"/api/admin/users/{alice.id}/credits", json={"amount": 12.5, "note": "welcome"}
        )
        assert granted.json()["credits"] == 12.5
    entries = (await ledger(api, "alice"))["entries"]
    assert entries[0]["kind"] == "grant" and entries[0]["note"] == "welcome"
