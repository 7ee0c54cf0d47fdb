"""Accounts (issue 13, point 6): a new password or disabling a user ends every session and
API token of that user, over the API and the CLI; a user's name never passes to someone else."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from typer.testing import CliRunner

from imagebatch.app import build_app
from imagebatch.cli.users import users_cli
from imagebatch.config import Settings
from imagebatch.errors import NotAuthenticated
from tests.api.conftest import PASSWORD, Api

NEW_PASSWORD = "a brand new password"


async def live(client: httpx.AsyncClient) -> bool:
    answer = await client.get("/api/auth/me")
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200


async def test_a_password_change_ends_every_session_and_token_and_says_how_many(
    api: Api,
) -> None:
    await api.user("alice")
    script, other_script = await api.bearer("alice"), await api.bearer("alice")
    browser = await api.login("alice")
    changed = await browser.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 200, changed.text
    # Three logins (two made the tokens), two tokens: all of them end.
    assert changed.json() == {"sessions_ended": 3, "tokens_revoked": 2}
    assert not await live(script) and not await live(other_script) and not await live(browser)
    assert await live(await api.login("alice", NEW_PASSWORD))


async def test_guessing_the_current_password_through_a_stolen_session_is_throttled(
    api: Api,
) -> None:
    await api.user("alice")
    stolen = await api.login("alice")
    guess = {"current_password": "a wrong guess", "new_password": NEW_PASSWORD}
    statuses = [
        (await stolen.post("/api/auth/password", json=guess)).status_code for _ in range(11)
    ]
    assert statuses == [401] * 10 + [429]


async def test_an_admin_reset_revokes_the_users_tokens(api: Api) -> None:
    alice = await api.user("alice")
    await api.user("root", admin=True)
    script = await api.bearer("alice")
    root = await api.login("root")
    reset = await root.post(f"/api/admin/users/{alice.id}/password", json={})
    assert reset.status_code == 200, reset.text
    answer = reset.json()
    assert (answer["sessions_ended"], answer["tokens_revoked"]) == (1, 1)
    assert not await live(script)
    assert await live(await api.login("alice", answer["password"]))


async def test_an_admin_session_cannot_reset_its_own_password(api: Api) -> None:
    root = await api.user("root", admin=True)
    session = await api.login("root")
    answer = await session.post(f"/api/admin/users/{root.id}/password", json={})
    assert answer.status_code == 403
    assert "/api/auth/password" in answer.json()["error"]["message"]
    assert await live(session)


async def test_a_disabled_users_tokens_stay_revoked_when_they_are_enabled_again(
    api: Api,
) -> None:
    alice = await api.user("alice")
    await api.user("root", admin=True)
    script = await api.bearer("alice")
    root = await api.login("root")
    assert (await root.put(f"/api/admin/users/{alice.id}", json={"disabled": True})).is_success
    assert (await root.put(f"/api/admin/users/{alice.id}", json={"disabled": False})).is_success
    assert not await live(script)  # revoked, not just hidden while disabled
    tokens = (await (await api.login("alice")).get("/api/auth/tokens")).json()
    assert [t["revoked_at"] is not None for t in tokens] == [True]


async def test_a_name_is_never_handed_to_another_user(api: Api) -> None:
    """A name never changes and never returns to the pool (what a user owns is found by their
    id, tests/security/test_ownership.py, so this no longer guards their data alone)."""
    alice = await api.user("alice")
    await api.user("root", admin=True)
    root = await api.login("root")
    renamed = await root.put(f"/api/admin/users/{alice.id}", json={"name": "mallory"})
    assert renamed.json()["name"] == "alice"  # the API has no way to rename
    await root.put(f"/api/admin/users/{alice.id}", json={"disabled": True})
    again = await root.post("/api/admin/users", json={"name": "alice", "password": NEW_PASSWORD})
    assert again.status_code == 409  # a disabled user keeps their name, and what it owns


def test_the_cli_ends_sessions_and_tokens_too(settings: Settings) -> None:
    async def prepare() -> str:
        app = await build_app(settings)
        try:
            user = await app.accounts.create_user("alice", PASSWORD)
            for _ in range(3):
                with pytest.raises(NotAuthenticated):
                    await app.accounts.verify_password("alice", "a wrong guess", "203.0.113.1")
            return (await app.accounts.create_token(user, "script"))[1]
        finally:
            await app.close()

    async def token_works(secret: str) -> bool:
        app = await build_app(settings)
        try:
            return await app.accounts.token_user(secret) is not None
        finally:
            await app.close()

    first = asyncio.run(prepare())
    env = {
        "IMAGEBATCH_DATA_DIR": str(settings.data_dir),
        "IMAGEBATCH_DATABASE_URL": settings.database_url,
    }
    runner = CliRunner()
    disabled = runner.invoke(users_cli, ["disable", "alice"], env=env)
    assert disabled.exit_code == 0, disabled.output
    assert "1 API token(s) revoked" in disabled.output
    assert runner.invoke(users_cli, ["enable", "alice"], env=env).exit_code == 0
    assert not asyncio.run(token_works(first))
    reset = runner.invoke(
        users_cli, ["reset-password", "alice", "--password-stdin"], env=env, input="x" * 12
    )
    assert reset.exit_code == 0, reset.output
    assert "0 API token(s) revoked" in reset.output and "Password:" not in reset.output
    unlocked = runner.invoke(users_cli, ["unlock", "alice"], env=env)
    assert "3 failed login(s) forgotten" in unlocked.output
    missing = runner.invoke(users_cli, ["disable", "nobody"], env=env)
    assert missing.exit_code == 2 and "no such user" in missing.output
