"""Logging in, sessions, CSRF, API tokens, roles and login throttling, through HTTP."""

from __future__ import annotations

from tests.api.conftest import PASSWORD, Api


async def test_unauthenticated_calls_answer_401(api: Api) -> None:
    async with api.client() as anonymous:
        for path in ("/api/auth/me", "/api/batches", "/api/records", "/api/config"):
            answer = await anonymous.get(path)
            assert answer.status_code == 401, path
            assert answer.json()["error"]["type"] == "NotAuthenticated"


async def test_login_sets_a_session_and_me_answers(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        me = (await alice.get("/api/auth/me")).json()
        assert me["name"] == "alice" and me["role"] == "user" and me["credits"] == 100.0
        cookie = next(c for c in alice.cookies.jar if c.name == "ib_session")
        assert cookie.has_nonstandard_attr("HttpOnly")


async def test_wrong_password_is_refused_without_saying_which_part(api: Api) -> None:
    await api.user("alice")
    async with api.client() as client:
        wrong = await client.post("/api/auth/login", json={"name": "alice", "password": "nope"})
        nobody = await client.post("/api/auth/login", json={"name": "ghost", "password": "nope"})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["error"]["message"] == nobody.json()["error"]["message"]


async def test_cookie_requests_that_change_things_need_the_csrf_header(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        token = alice.headers.pop("X-CSRF-Token")
        refused = await alice.post("/api/batches", json={"prompt": "a cat"})
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["error"]["message"]
        forged = await alice.post(
            "/api/batches", json={"prompt": "a cat"}, headers={"X-CSRF-Token": "forged"}
        )
        assert forged.status_code == 403
        accepted = await alice.post(
            "/api/batches", json={"prompt": "a cat"}, headers={"X-CSRF-Token": token}
        )
        assert accepted.status_code == 201
        # Reading needs no token.
        assert (await alice.get("/api/batches")).status_code == 200


async def test_logout_ends_the_session(api: Api) -> None:
    await api.user("alice")
    alice = await api.login("alice")
    stolen = dict(alice.cookies)
    assert (await alice.post("/api/auth/logout")).status_code == 204
    async with api.client(cookies=stolen) as replay:
        assert (await replay.get("/api/auth/me")).status_code == 401


async def test_api_tokens_are_shown_once_hashed_at_rest_and_revocable(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        created = (await alice.post("/api/auth/tokens", json={"name": "ci"})).json()
        secret = created["token"]
        assert secret.startswith("ib_")
        listed = (await alice.get("/api/auth/tokens")).json()
        assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
        rows = await api.app.db.read(
            lambda conn: conn.exec_driver_sql("SELECT token_hash FROM api_tokens").all()
        )
        assert secret not in str(rows)
        async with api.client(headers={"Authorization": f"Bearer {secret}"}) as script:
            assert (await script.get("/api/auth/me")).json()["name"] == "alice"
            # Tokens need no CSRF header: no browser sends them on its own.
            assert (await script.post("/api/batches", json={"prompt": "a"})).status_code == 201
            assert (await alice.delete(f"/api/auth/tokens/{created['id']}")).status_code == 204
            assert (await script.get("/api/auth/me")).status_code == 401


async def test_users_get_403_from_admin_endpoints(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        for method, path in (
            ("GET", "/api/admin/settings"),
            ("PUT", "/api/admin/settings"),
            ("GET", "/api/admin/batches"),
            ("GET", "/api/admin/stats"),
            ("GET", "/api/admin/users"),
            ("POST", "/api/admin/presets"),
        ):
            answer = await alice.request(method, path, json={})
            assert answer.status_code == 403, (method, path)


async def test_disabled_users_lose_their_sessions_and_tokens(api: Api) -> None:
    alice = await api.user("alice")
    await api.user("root", admin=True)
    session = await api.login("alice")
    script = await api.bearer("alice")
    async with api.session("root") as root:
        changed = await root.put(f"/api/admin/users/{alice.id}", json={"disabled": True})
        assert changed.json()["disabled"] is True
    assert (await session.get("/api/auth/me")).status_code == 401
    assert (await script.get("/api/auth/me")).status_code == 401
    async with api.client() as client:
        again = await client.post("/api/auth/login", json={"name": "alice", "password": PASSWORD})
        assert again.status_code == 401


async def test_failed_logins_are_throttled_per_user_and_address(api: Api) -> None:
    await api.user("alice")
    async with api.client() as attacker:
        for _ in range(10):
            answer = await attacker.post(
                "/api/auth/login", json={"name": "alice", "password": "guess"}
            )
            assert answer.status_code == 401
        blocked = await attacker.post(
            "/api/auth/login", json={"name": "alice", "password": PASSWORD}
        )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


async def test_password_change_needs_the_current_one(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        wrong = await alice.post(
            "/api/auth/password",
            json={"current_password": "nope", "new_password": "a new password"},
        )
        assert wrong.status_code == 401
        ok = await alice.post(
            "/api/auth/password",
            json={"current_password": PASSWORD, "new_password": "a new password"},
        )
        assert ok.status_code == 200
        assert ok.json() == {"sessions_ended": 1, "tokens_revoked": 0}
    async with api.session("alice", "a new password") as again:
        assert (await again.get("/api/auth/me")).status_code == 200
