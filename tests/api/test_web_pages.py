"""The pages over HTTP, without a browser: sign-in redirects, the admin 403 page, the
language cookie, security headers on pages and static files."""

from __future__ import annotations

import re

from imagebatch.web.security import CSP
from tests.api.conftest import Api


async def test_pages_need_a_session(site: Api) -> None:
    client = site.client()
    for path in ("/compose", "/batches", "/batches/7", "/history", "/admin/presets"):
        answer = await client.get(path, params={"x": "1"})
        assert answer.status_code == 303
        assert answer.headers["location"].startswith(f"/login?next={path}")
    assert (await client.get("/")).headers["location"] == "/login"
    login = await client.get("/login", params={"next": "//evil.example/"})
    assert login.status_code == 200
    assert 'data-next="/compose"' in login.text  # never off-site


async def test_signed_in_pages_and_admin_pages(site: Api) -> None:
    await site.user("ann")
    await site.user("root", admin=True)
    ann = await site.login("ann")
    page = await ann.get("/compose")
    assert page.status_code == 200 and 'data-user="ann"' in page.text
    assert '<script type="module" src="/static/js/pages/compose.js' in page.text
    assert 'href="/admin"' not in page.text
    forbidden = await ann.get("/admin/settings")
    assert forbidden.status_code == 403 and "Administrators only" in forbidden.text
    root = await site.login("root")
    assert (await root.get("/admin/settings")).status_code == 200
    assert (await root.get("/login")).headers["location"] == "/compose"


async def test_security_headers_on_pages_and_static_files(site: Api) -> None:
    client = site.client()
    for path in ("/login", "/static/js/lib/api.js", "/static/css/app.css", "/static/i18n/en.json"):
        answer = await client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-security-policy"] == CSP
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
    script = await client.get("/static/js/lib/api.js")
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    again = await client.get(
        "/static/js/lib/api.js", headers={"if-none-match": script.headers["etag"]}
    )
    assert again.status_code == 304
    assert "content-security-policy" not in (await client.get("/api/health")).headers


async def test_templates_have_no_inline_script_or_style(site: Api) -> None:
    await site.user("root", admin=True)
    root = await site.login("root")
    for path in (
        "/login",
        "/compose",
        "/batches",
        "/batches/1",
        "/history",
        "/admin",
        "/admin/users",
    ):
        text = (await root.get(path)).text
        assert "style=" not in text, path
        assert "<script>" not in text and '<script type="module">' not in text, path
        assert not re.search(r"<[^>]+\son[a-z]+=", text), path  # no inline event handlers


async def test_language_cookie_and_header(site: Api) -> None:
    client = site.client(headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-CN">' in (await client.get("/login")).text
    switched = await client.get("/lang/en", params={"next": "/login?next=/history"})
    assert switched.status_code == 303
    assert switched.headers["location"] == "/login?next=/history"
    assert "ib_lang=en" in switched.headers["set-cookie"]
    assert '<html lang="en">' in (await client.get("/login")).text
    ignored = await client.get("/lang/fr", params={"next": "https://evil.example/"})
    assert ignored.headers["location"] == "/compose" and "set-cookie" not in ignored.headers
