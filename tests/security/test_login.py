"""Login throttling and proxy headers (issue 13, point 3), against a real server on loopback.

Different client addresses are real ones: Linux routes all of 127.0.0.0/8 to loopback, so a
client bound to 127.0.0.2 reaches the server from that address, with no header to believe.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
import pytest
from argon2 import PasswordHasher

from imagebatch.config import Settings
from imagebatch.providers.base import ImageProvider
from tests.api.conftest import PASSWORD, Api, serve_harness

WRONG = {"name": "alice", "password": "a wrong guess"}
RIGHT = {"name": "alice", "password": PASSWORD}


class CountingHasher(PasswordHasher):
    """Real Argon2 (cheap parameters) that counts the passwords it checks."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.checked = 0
        self._lock = threading.Lock()  # verify() runs in worker threads

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.checked += 1
        return super().verify(hash, password)


def from_address(api: Api, address: str, **options: Any) -> httpx.AsyncClient:
    return api.client(transport=httpx.AsyncHTTPTransport(local_address=address), **options)


async def guesses(client: httpx.AsyncClient, count: int, **body: str) -> list[int]:
    login = {**WRONG, **body}
    answers = await asyncio.gather(
        *(client.post("/api/auth/login", json=login) for _ in range(count))
    )
    return [answer.status_code for answer in answers]


async def test_parallel_wrong_guesses_are_counted_before_any_is_checked(api: Api) -> None:
    await api.user("alice")
    hasher = CountingHasher()
    api.app.accounts.hasher = hasher
    statuses = await guesses(api.client(), 40)
    assert sorted(statuses) == [401] * 10 + [429] * 30
    assert hasher.checked == 10  # the 30 refused were never compared with the hash


async def test_a_throttled_address_does_not_lock_the_user_out_elsewhere(api: Api) -> None:
    await api.user("admin", admin=True)
    attacker = from_address(api, "127.0.0.2")
    assert await guesses(attacker, 10, name="admin") == [401] * 10
    blocked = await attacker.post("/api/auth/login", json={**RIGHT, "name": "admin"})
    assert blocked.status_code == 429
    assert 800 < int(blocked.headers["Retry-After"]) <= 900  # the 15-minute window
    assert "from your address" in blocked.json()["error"]["message"]
    owner = from_address(api, "127.0.0.3")
    assert (await owner.post("/api/auth/login", json={**RIGHT, "name": "admin"})).is_success


async def test_one_address_guessing_many_names_is_throttled(api: Api) -> None:
    await api.user("alice")
    attacker = from_address(api, "127.0.0.2")
    for n in range(5):  # 50 guesses over five names: each pair stays within its limit
        await api.user(f"user{n}")
        assert await guesses(attacker, 10, name=f"user{n}") == [401] * 10
    blocked = await attacker.post("/api/auth/login", json=RIGHT)  # alice: no failures yet
    assert blocked.status_code == 429
    assert "from your address" in blocked.json()["error"]["message"]
    assert (await from_address(api, "127.0.0.3").post("/api/auth/login", json=RIGHT)).is_success


async def test_guessing_from_many_addresses_meets_a_ceiling_an_admin_lifts(api: Api) -> None:
    alice = await api.user("alice")
    await api.user("root", admin=True)
    root = await api.login("root")
    for host in range(10, 20):  # ten addresses, ten guesses each: 100, the per-user ceiling
        assert await guesses(from_address(api, f"127.0.0.{host}"), 10) == [401] * 10
    fresh = from_address(api, "127.0.0.50")
    paused = await fresh.post("/api/auth/login", json=RIGHT)
    assert paused.status_code == 429
    assert "imagebatch users unlock" in paused.json()["error"]["message"]
    unlocked = await root.post(f"/api/admin/users/{alice.id}/unlock")
    assert unlocked.json() == {"failures_cleared": 100}
    assert (await fresh.post("/api/auth/login", json=RIGHT)).is_success


async def test_a_success_forgives_its_own_address_only(api: Api) -> None:
    await api.user("alice")
    typist, other = from_address(api, "127.0.0.2"), from_address(api, "127.0.0.3")
    assert await guesses(typist, 9) == [401] * 9
    assert await guesses(other, 9) == [401] * 9
    assert (await typist.post("/api/auth/login", json=RIGHT)).is_success
    assert await guesses(typist, 10) == [401] * 10  # a fresh count at the forgiven address
    # the other address kept its nine: one more is checked, the next refused (in any order)
    assert sorted(await guesses(other, 2)) == [401, 429]


async def test_forwarded_headers_are_ignored_by_default(api: Api) -> None:
    await api.user("alice")
    client = api.client()
    for n in range(10):  # a spoofed address per guess changes nothing: all from 127.0.0.1
        spoofed = {"X-Forwarded-For": f"203.0.113.{n}"}
        answer = await client.post("/api/auth/login", json=WRONG, headers=spoofed)
        assert answer.status_code == 401
    spoofed = {"X-Forwarded-For": "203.0.113.99", "X-Forwarded-Proto": "https"}
    assert (await client.post("/api/auth/login", json=RIGHT, headers=spoofed)).status_code == 429
    login = await from_address(api, "127.0.0.2").post(
        "/api/auth/login", json=RIGHT, headers=spoofed
    )
    assert login.is_success
    assert "secure" not in login.headers["set-cookie"].lower()  # plain http, whatever it says


@pytest.fixture
async def behind_proxy(
    api_settings: Settings, providers: dict[str, ImageProvider]
) -> AsyncIterator[Api]:
    """The server behind a reverse proxy at 127.0.0.1 (IMAGEBATCH_FORWARDED_ALLOW_IPS)."""
    settings = api_settings.model_copy(update={"forwarded_allow_ips": "127.0.0.1"})
    async with serve_harness(settings, providers) as harness:
        yield harness


async def test_forwarded_headers_are_believed_from_the_trusted_proxy(behind_proxy: Api) -> None:
    api = behind_proxy
    await api.user("alice")
    proxy = api.client()
    guesser = {"X-Forwarded-For": "203.0.113.7"}
    assert await guesses(api.client(headers=guesser), 10) == [401] * 10
    assert (await proxy.post("/api/auth/login", json=RIGHT, headers=guesser)).status_code == 429
    owner = {"X-Forwarded-For": "198.51.100.4", "X-Forwarded-Proto": "https"}
    login = await proxy.post("/api/auth/login", json=RIGHT, headers=owner)
    assert login.is_success
    assert "secure" in login.headers["set-cookie"].lower()  # https at the proxy
    # Not from the proxy: the same headers are the client's own word, not believed.
    stranger = from_address(api, "127.0.0.2")
    assert await guesses(stranger, 10, name="alice") == [401] * 10
    spoofing = await stranger.post("/api/auth/login", json=RIGHT, headers=owner)
    assert spoofing.status_code == 429
