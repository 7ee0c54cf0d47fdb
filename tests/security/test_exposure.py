"""Issue 13, point 5: what a caller who is not an admin learns. /metrics answers only an admin
or a scraper holding IMAGEBATCH_METRICS_TOKEN; an anonymous /api/health says only "up"."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from imagebatch.config import Settings
from tests.api.conftest import Api

TOKEN = "scrape-me-0123456789abcdef"
#: what an admin sees (backends: each ComfyUI server of the pool, none here)
ADMIN_DETAILS = {"status", "version", "database", "storage", "workers", "queue", "backends"}


@pytest.fixture
def metrics_token() -> str | None:
    """IMAGEBATCH_METRICS_TOKEN; a test parametrizes it to None to run without one."""
    return TOKEN


@pytest.fixture
def api_settings(api_settings: Settings, metrics_token: str | None) -> Settings:
    token = SecretStr(metrics_token) if metrics_token is not None else None
    return api_settings.model_copy(update={"metrics_token": token})


async def test_metrics_need_an_admin_or_the_metrics_token(api: Api) -> None:
    await api.user("root", admin=True)
    await api.user("alice")
    anyone = api.client()
    cases = {
        "anonymous": (anyone, {}, 401),
        "wrong token": (anyone, {"Authorization": "Bearer scrape-me-0123456789abcdeX"}, 401),
        "empty token": (anyone, {"Authorization": "Bearer"}, 401),
        "token, other scheme": (anyone, {"Authorization": f"Basic {TOKEN}"}, 401),
        "metrics token": (anyone, {"Authorization": f"Bearer {TOKEN}"}, 200),
        "admin session": (await api.login("root"), {}, 200),
        "admin API token": (await api.bearer("root"), {}, 200),
        "user session": (await api.login("alice"), {}, 403),
        "user API token": (await api.bearer("alice"), {}, 403),
    }
    for case, (client, headers, status) in cases.items():
        answer = await client.get("/metrics", headers=headers)
        assert answer.status_code == status, (case, answer.text)
        if status == 200:
            assert "imagebatch_queue_depth" in answer.text, case
        else:
            assert "imagebatch_" not in answer.text, case
            assert answer.json()["error"]["message"], case  # the usual error shape


@pytest.mark.parametrize("metrics_token", [None])
async def test_without_a_metrics_token_only_admins_read_metrics(api: Api) -> None:
    answer = await api.client().get("/metrics", headers={"Authorization": "Bearer"})
    assert answer.status_code == 401
    await api.user("root", admin=True)
    assert (await (await api.login("root")).get("/metrics")).status_code == 200


async def test_anonymous_health_says_only_whether_the_service_is_up(api: Api) -> None:
    await api.user("root", admin=True)
    await api.user("alice")
    for client in (api.client(), await api.login("alice"), await api.bearer("alice")):
        answer = await client.get("/api/health")
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    invalid = api.client(headers={"Authorization": "Bearer not-a-token"})
    assert (await invalid.get("/api/health")).json() == {"status": "ok"}
    for admin in (await api.login("root"), await api.bearer("root")):
        full = (await admin.get("/api/health")).json()
        assert set(full) == ADMIN_DETAILS
        assert full["database"] == full["storage"] == "ok"
        assert full["workers"]["in_process"] == 1 and full["queue"] == {"pending": 0, "running": 0}
