"""Admin endpoints: settings that take effect at once, users, statistics; health, metrics."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_settings_are_validated_and_take_effect(api: Api) -> None:
    await api.user("root", admin=True)
    async with api.session("root") as root:
        current = (await root.get("/api/admin/settings")).json()
        assert current["global_concurrency"] == 3 and current["refund_policy"] == "refund"
        for bad in ({"global_concurrency": 0}, {"global_concurrency": 101}, {"refund_policy": "x"}):
            assert (await root.put("/api/admin/settings", json=bad)).status_code == 422
        changed = await root.put(
            "/api/admin/settings",
            json={"global_concurrency": 7, "max_attempts": 5, "retention_days": 30},
        )
        assert changed.json()["global_concurrency"] == 7 and changed.json()["max_attempts"] == 5
        created = (await root.post("/api/batches", json={"prompt": "p"})).json()
        task = (await root.get(f"/api/batches/{created['batch']['id']}/tasks")).json()["items"][0]
        assert task["max_attempts"] == 5
    worker = api.app.worker()
    assert await worker.limits.global_limit() == 7


async def test_admin_manages_users(api: Api) -> None:
    root = await api.user("root", admin=True)
    async with api.session("root") as admin:
        made = await admin.post("/api/admin/users", json={"name": "carol", "credits": 3})
        assert made.status_code == 201
        password = made.json()["password"]
        carol = made.json()["user"]
        assert carol["credits"] == 3 and carol["role"] == "user"
        duplicate = await admin.post("/api/admin/users", json={"name": "carol"})
        assert duplicate.status_code == 409
        bad_name = await admin.post("/api/admin/users", json={"name": "../etc"})
        assert bad_name.status_code == 422
        async with api.session("carol", password) as session:
            assert (await session.get("/api/auth/me")).json()["name"] == "carol"
        reset = await admin.post(f"/api/admin/users/{carol['id']}/password", json={})
        async with api.session("carol", reset.json()["password"]) as session:
            assert (await session.get("/api/auth/me")).status_code == 200
        promoted = await admin.put(f"/api/admin/users/{carol['id']}", json={"role": "admin"})
        assert promoted.json()["role"] == "admin"
        itself = await admin.put(f"/api/admin/users/{root.id}", json={"disabled": True})
        assert itself.status_code == 403
        names = [u["name"] for u in (await admin.get("/api/admin/users")).json()]
        assert names == ["root", "carol"]


async def test_stats_count_by_status_day_and_provider(api: Api) -> None:
    await api.user("alice")
    await api.user("root", admin=True)
    async with api.session("alice") as alice:
        rows = [{"prompt": "a", "count": 3}, {"prompt": "[demo:reject] b"}]
        created = (await alice.post("/api/batches", json={"rows": rows})).json()
        await api.wait_batch(alice, created["batch"]["id"])
    async with api.session("root") as root:
        stats = (await root.get("/api/admin/stats")).json()
    assert stats["totals"]["batches"] == 1 and stats["totals"]["users"] == 2
    assert stats["tasks_by_status"]["succeeded"] == 3 and stats["tasks_by_status"]["failed"] == 1
    assert stats["success_rate"] == 0.75
    assert sum(d["images"] for d in stats["images_per_day"]) == 3
    [demo] = stats["providers"]
    assert demo["provider"] == "demo" and demo["cost"] == 1.5 and demo["mean_latency_ms"] >= 0
    assert stats["credits_charged"] == 1.5


async def test_health_and_metrics(api: Api) -> None:
    await api.user("alice")
    await api.user("root", admin=True)
    async with api.session("alice") as alice:
        created = (await alice.post("/api/batches", json={"prompt": "p", "count": 2})).json()
        await api.wait_batch(alice, created["batch"]["id"])
    async with api.session("root") as root:  # the details are for admins (tests/security)
        health = (await root.get("/api/health")).json()
        assert health["status"] == "ok" and health["database"] == health["storage"] == "ok"
        assert health["workers"]["in_process"] == 1 and health["queue"]["pending"] == 0
        metrics = (await root.get("/metrics")).text
    assert 'imagebatch_tasks{status="succeeded"} 2.0' in metrics
    assert 'imagebatch_attempts_total{outcome="succeeded",provider="demo"} 2.0' in metrics
    assert 'imagebatch_provider_latency_seconds_count{provider="demo"} 2.0' in metrics
    assert "imagebatch_credits_spent_total 1.0" in metrics


async def test_first_start_creates_one_admin(api: Api) -> None:
    generated = await api.app.accounts.bootstrap_admin(None)
    assert generated and len(generated) >= 12
    assert await api.app.accounts.bootstrap_admin(None) is None  # only with no users at all
    async with api.session("admin", generated) as admin:
        assert (await admin.get("/api/auth/me")).json()["role"] == "admin"
