"""Issue 13, point 5: headers. Every answer says `nosniff`; images are served as the type their
bytes are, sandboxed, and never shown as anything but an image; every Content-Disposition
survives any name (CR/LF, quotes, `;`, Chinese, emoji, ten thousand characters)."""

from __future__ import annotations

import io
import string
import zipfile
from urllib.parse import unquote

import httpx
import pytest

from imagebatch.api.headers import IMAGE_CSP
from imagebatch.blobs.base import content_key
from imagebatch.domain.disposition import MAX_NAME_CHARS, disposition
from imagebatch.store.images import NewImage
from tests.api.conftest import Api, png, start_server

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
ATTR_CHARS = string.ascii_letters + string.digits + "!#$&+-.^_`|~%"


async def planted(api: Api, data: bytes, mime: str, name: str) -> int:
    """An image row whose stored bytes are `data`, recorded as `mime` (as if they had come in
    past every check): what is served must follow the bytes, not the record."""
    sha256, key = content_key(data, ".png")
    await api.app.blobs.put(key, data)
    new = NewImage(sha256, mime, 8, 8, len(data), key, "input", original_name=name)
    return (await api.app.images.add(new, api.app.clock())).id


async def test_every_kind_of_answer_says_nosniff(site: Api) -> None:
    await site.user("root", admin=True)
    root = await site.login("root")
    anyone = site.client()
    image_id = await planted(site, png(), "image/png", "p.png")
    answers = {
        "JSON 200": await root.get("/api/auth/me"),
        "404 of an id": await root.get("/api/batches/987654"),
        "404 of a path": await anyone.get("/no/such/path"),
        "405": await anyone.delete("/api/health"),
        "422": await root.post("/api/batches", json={"rows": "not a list"}),
        "401": await anyone.get("/api/batches"),
        "HTML page": await anyone.get("/login"),
        "static file": await anyone.get("/static/css/app.css"),
        "image": await root.get(f"/api/images/{image_id}/file"),
        "thumbnail": await root.get(f"/api/images/{image_id}/thumbnail"),
        "table template": await root.get("/api/tables/template"),
        "health": await anyone.get("/api/health"),
    }
    expected = {"404 of an id": 404, "404 of a path": 404, "405": 405, "422": 422, "401": 401}
    for kind, answer in answers.items():
        assert answer.status_code == expected.get(kind, 200), (kind, answer.text)
        assert answer.headers.get("x-content-type-options") == "nosniff", kind
        assert answer.headers.get("x-frame-options") == "DENY", kind
        assert answer.headers.get("referrer-policy") == "same-origin", kind


async def test_stored_images_are_served_as_their_bytes_are(api: Api) -> None:
    await api.user("root", admin=True)
    root = await api.login("root")
    real_png = await planted(api, png(), "text/html", "looks.html")
    for data, claimed in ((SVG, "image.png"), (HTML, "image.png"), (b"GIF8", "short.gif")):
        image_id = await planted(api, data, "image/png", claimed)
        for query in ("", "?download=1"):
            answer = await root.get(f"/api/images/{image_id}/file{query}")
            assert answer.status_code == 200 and answer.content == data
            assert answer.headers["content-type"] == "application/octet-stream"
            assert answer.headers["content-disposition"].startswith("attachment;")
            assert answer.headers["content-security-policy"] == IMAGE_CSP
    shown = await root.get(f"/api/images/{real_png}/file")
    assert shown.headers["content-type"] == "image/png"  # the bytes', not the record's text/html
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["content-security-policy"] == IMAGE_CSP
    assert shown.content == png()


async def test_generated_outputs_and_thumbnails_are_sandboxed_images(api: Api) -> None:
    await api.user("alice")
    alice = await api.login("alice")
    created = (await alice.post("/api/batches", json={"prompt": "p"})).json()
    batch = await api.wait_batch(alice, created["batch"]["id"])
    task = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"][0]
    image_id = task["output_image_id"]
    file = await alice.get(f"/api/images/{image_id}/file")
    assert file.headers["content-type"] == "image/jpeg"
    assert file.headers["content-disposition"].startswith("inline;")
    thumb = await alice.get(f"/api/images/{image_id}/thumbnail")
    for answer in (file, thumb):
        assert answer.headers["content-security-policy"] == IMAGE_CSP
    cached = await alice.get(
        f"/api/images/{image_id}/file", headers={"If-None-Match": file.headers["etag"]}
    )
    assert cached.status_code == 304


async def test_a_batch_named_with_crlf_downloads_as_a_zip(api: Api) -> None:
    await api.user("alice")
    alice = await api.login("alice")
    name = 'a\r\nb"; x=1 猫🐈'
    created = (await alice.post("/api/batches", json={"prompt": "p", "name": name})).json()
    batch = await api.wait_batch(alice, created["batch"]["id"])
    answer = await alice.get(f"/api/batches/{batch['id']}/download")
    assert answer.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(answer.content)).namelist()[-1] == "manifest.csv"
    header = answer.headers["content-disposition"]
    assert "\r" not in header and "\n" not in header
    assert saved_name(header) == f'batch-{batch["id"]}-a__b"; x=1 猫🐈.zip'
    assert fallback_name(header) == f"batch-{batch['id']}-a__b__ x=1 __.zip"


@pytest.mark.parametrize(
    ("name", "saved", "fallback"),
    [
        ("a\r\nb.zip", "a__b.zip", "a__b.zip"),
        ('say "hi"\\.png', 'say "hi"_.png', "say _hi__.png"),
        ("a; filename=evil.exe", "a; filename=evil.exe", "a_ filename=evil.exe"),
        ("猫的照片.png", "猫的照片.png", "____.png"),
        ("🐈 café.jpg", "🐈 café.jpg", "_ cafe.jpg"),
        ("100%.png", "100%.png", "100_.png"),
        ("photo\u202egpj.exe", "photo_gpj.exe", "photo_gpj.exe"),
        ("../../etc/passwd", ".._.._etc_passwd", ".._.._etc_passwd"),
        ("\r\n", "download", "download"),
    ],
)
def test_disposition_keeps_names_whole_and_headers_safe(
    name: str, saved: str, fallback: str
) -> None:
    for inline in (False, True):
        header = disposition(name, inline=inline)
        assert header.startswith("inline;" if inline else "attachment;")
        assert header.isascii() and header.isprintable()
        assert saved_name(header) == saved
        assert fallback_name(header) == fallback


def test_a_very_long_name_is_cut_but_keeps_its_extension() -> None:
    header = disposition("长" * 10_000 + ".png")
    assert len(header) < 2_000
    assert saved_name(header) == "长" * (MAX_NAME_CHARS - 4) + ".png"
    assert fallback_name(header) == "_" * (MAX_NAME_CHARS - 4) + ".png"


async def test_exported_tables_carry_a_safe_disposition(api: Api) -> None:
    await api.user("alice")
    alice = await api.login("alice")
    answer = await alice.get("/api/tables/template", params={"lang": "zh"})
    assert saved_name(answer.headers["content-disposition"]) == "imagebatch-模板.xlsx"
    assert fallback_name(answer.headers["content-disposition"]) == "imagebatch-__.xlsx"
    assert answer.content.startswith(b"PK\x03\x04")  # the workbook itself still arrives


def saved_name(header: str) -> str:
    """The name a browser saves under: RFC 5987's filename*, the last parameter."""
    value = header.split("; filename*=", 1)[1]
    charset, language, encoded = value.split("'", 2)
    assert (charset, language) == ("UTF-8", "")
    assert not set(encoded) - set(ATTR_CHARS), "RFC 5987 attr-chars and %XX only"
    return unquote(encoded, encoding="utf-8", errors="strict")


def fallback_name(header: str) -> str:
    quoted = header.split('filename="', 1)[1].split('"', 1)[0]
    assert quoted.isascii() and not set(quoted) & set('\\;%"')
    return quoted


async def test_redirects_and_event_streams_say_nosniff_too(site: Api) -> None:
    redirect = await site.client().get("/compose", follow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["x-content-type-options"] == "nosniff"
    await site.user("alice")
    alice = await site.login("alice")
    created = (await alice.post("/api/batches", json={"prompt": "p"})).json()
    async with alice.stream("GET", f"/api/batches/{created['batch']['id']}/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        assert events.headers["x-content-type-options"] == "nosniff"


async def test_an_unexpected_500_says_nosniff_too(api: Api) -> None:
    async def boom() -> None:
        raise RuntimeError("a bug")

    server, task, url = await start_server(
        api.app, workers=False, extra=lambda app: app.add_api_route("/boom", boom)
    )
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            answer = await client.get("/boom")
    finally:
        server.should_exit = True
        await task
    assert answer.status_code == 500
    assert answer.headers["x-content-type-options"] == "nosniff"
