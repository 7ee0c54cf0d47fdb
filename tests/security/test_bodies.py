"""Sizes and shapes of request bodies: a huge JSON body is refused before it is read, a body
that is not UTF-8 or not JSON is a clear error, uploads stream to disk (the server's memory
does not grow with them), and form fields are validated by the JSON body's model."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from imagebatch.config import Settings
from tests.api.conftest import Api, png

MB = 1024 * 1024
JSON_LIMIT = 64 * 1024


@pytest.fixture
def api_settings(api_settings: Settings) -> Settings:
    return api_settings.model_copy(update={"max_json_bytes": JSON_LIMIT})


async def raw_post(
    api: Api, path: str, headers: dict[str, str], body: AsyncIterator[bytes]
) -> tuple[int, dict[str, Any], int]:
    """POST over a bare socket, writing `body` until the server answers: (status, JSON answer,
    bytes sent). The server may answer before the body is sent; httpx would fail on the
    closed pipe."""
    address = urlsplit(api.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    lines = [f"POST {path} HTTP/1.1", f"Host: {address.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = asyncio.create_task(read_answer(reader))
    sent = 0
    try:
        async for chunk in body:
            if answer.done():
                break
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    status, content = await asyncio.wait_for(answer, 10)
    writer.close()
    print(path, status, content)
    return status, json.loads(content), sent


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
    content = await reader.readexactly(int(fields.get("content-length", "0")))
    return int(head[0].split(" ")[1]), content


async def nothing() -> AsyncIterator[bytes]:
    return
    yield b""


async def chunked(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    piece = b" " * size
    for _ in range(total // size):
        yield f"{size:x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


async def test_a_body_declared_too_large_is_refused_before_it_is_read(api: Api) -> None:
    await api.user("alice")
    alice = await api.bearer("alice")
    for kind in ("application/json", "multipart/form-data; boundary=x", "text/plain"):
        for path in ("/api/prompts/preview", "/api/batches", "/api/auth/login"):
            if kind.startswith("multipart") and path == "/api/batches":
                continue  # an upload route: its own limits (test_a_file_over_the_limit…)
            headers = {
                "Authorization": alice.headers["Authorization"],
                "Content-Type": kind,
                "Content-Length": str(20 * MB),
            }
            # Not a byte of the body is sent: the answer cannot wait for it.
            status, answer, _ = await raw_post(api, path, headers, nothing())
            assert status == 413, (path, kind, answer)
            assert answer["error"]["type"] == "TooLarge"
            assert "64 KB limit" in answer["error"]["message"]


async def test_a_chunked_body_is_counted_as_it_arrives(api: Api) -> None:
    await api.user("alice")
    alice = await api.bearer("alice")
    headers = {
        "Authorization": alice.headers["Authorization"],
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    for path in ("/api/prompts/preview", "/api/batches"):
        status, answer, sent = await raw_post(api, path, headers, chunked(20 * MB))
        assert status == 413, path
        assert answer["error"]["type"] == "TooLarge"
        assert sent < 20 * MB, "the server waited for the whole body"


async def test_a_body_within_the_limit_goes_through(api: Api) -> None:
    await api.user("alice")
    alice = await api.bearer("alice")
    variables = {"b": ["x" * 1000] * 60}  # 60 KB of JSON, under the 64 KB limit
    answer = await alice.post(
        "/api/prompts/preview", json={"prompt": "a {b}", "variables": variables}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] == 60


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe{\x00", b"not json", b'{"prompt": "a"', b"[1, 2]", b'"just a string"'],
)
async def test_a_body_that_is_not_utf8_or_not_json_is_a_clear_error(api: Api, body: bytes) -> None:
    await api.user("alice")
    alice = await api.bearer("alice")
    headers = {"Content-Type": "application/json"}
    for path in ("/api/batches", "/api/prompts/preview", "/api/auth/tokens"):
        answer = await alice.post(path, content=body, headers=headers)
        assert answer.status_code in (400, 422), (path, answer.text)
        error = answer.json()["error"]
        assert error["message"] and error["issues"], (path, error)
        assert error["issues"][0]["hint"]


async def test_framework_errors_use_our_shape(api: Api) -> None:
    await api.user("alice")
    alice = await api.bearer("alice")
    bad_query = await alice.get("/api/batches", params={"limit": "abc"})
    assert bad_query.status_code == 422
    issue = bad_query.json()["error"]["issues"][0]
    assert issue["where"] == "limit (query parameter)"
    unknown = await alice.get("/api/no-such-thing")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "NotFound"
    wrong_method = await alice.delete("/api/batches")
    assert wrong_method.status_code == 405 and "Allow" in wrong_method.headers
    assert wrong_method.json()["error"]["type"] == "MethodNotAllowed"


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"count": "abc"}, "count"),
        ({"count": "500"}, "count"),
        ({"count": "0"}, "count"),
        ({"seed": "-1"}, "seed"),
        ({"aspect_ratio": "5:1"}, "aspect_ratio"),
        ({"colour": "red"}, "colour"),
        ({"params": "{not json"}, "params"),
        ({"rows": '[{"prompt": "x"}]'}, "rows"),
    ],
)
async def test_form_fields_are_validated_by_the_json_model(
    api: Api, fields: dict[str, str], where: str
) -> None:
    await api.user("alice")
    alice = await api.bearer("alice")
    files = [("images", ("a.png", png(), "image/png"))]
    answer = await alice.post("/api/batches", data={"prompt": "p", **fields}, files=files)
    assert answer.status_code == 422, answer.text
    issues = answer.json()["error"]["issues"]
    assert [issue["where"] for issue in issues] == [where], issues
    assert (await alice.get("/api/batches")).json()["items"] == []


async def test_the_multipart_schema_is_the_json_models(api: Api) -> None:
    schema = (await api.client().get("/openapi.json")).json()
    body = schema["paths"]["/api/batches"]["post"]["requestBody"]["content"]
    form = body["multipart/form-data"]["schema"]["properties"]
    model = schema["components"]["schemas"]["BatchIn"]["properties"]
    assert form["count"] == model["count"] and form["count"]["maximum"] == 100
    assert form["aspect_ratio"]["anyOf"] == model["aspect_ratio"]["anyOf"]
    assert {"images", "table", "references", "prompt", "params"} <= form.keys()
    assert "rows" not in form


async def test_a_file_over_the_limit_is_refused_naming_it(api: Api) -> None:
    await api.user("alice")
    await api.user("root", admin=True)
    async with api.session("root") as root:
        answer = await root.put("/api/admin/settings", json={"max_image_bytes": 100_000})
        assert answer.status_code == 200, answer.text
    alice = await api.bearer("alice")
    table = b"prompt\n" + b"a cat\n" * 20_000
    answer = await alice.post("/api/batches", files=[("table", ("big.csv", table, "text/csv"))])
    assert answer.status_code == 413, answer.text
    assert "big.csv" in answer.json()["error"]["message"]
    # An image over the limit is left out and named; the others go ahead.
    files = [
        ("images", ("small.png", png(), "image/png")),
        ("images", ("huge.png", padded_png(300_000), "image/png")),
    ]
    answer = await alice.post("/api/batches", data={"prompt": "p"}, files=files)
    assert answer.status_code == 201, answer.text
    assert answer.json()["tasks"] == 1
    assert [s["where"] for s in answer.json()["skipped"]] == ["huge.png"]
    # Only files over the limit: the answer names them rather than "no images".
    answer = await alice.post("/api/batches", data={"prompt": "p"}, files=files[1:])
    assert answer.status_code == 422
    assert answer.json()["error"]["issues"][0]["where"] == "huge.png"


def padded_png(size: int) -> bytes:
    """A valid PNG of exactly `size` bytes: a small picture, then padding after its end."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(buffer, "PNG")
    return buffer.getvalue().ljust(size, b"\0")


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def multipart_stream(
    boundary: str, image: bytes, files: int, fields: dict[str, str]
) -> AsyncIterator[bytes]:
    """A multipart body produced piece by piece: the client never holds it whole."""
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        yield f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode()
    for i in range(files):
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="images"; '
            f'filename="{i}.png"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        for start in range(0, len(image), MB):
            yield image[start : start + MB]
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


async def test_uploads_are_streamed_and_memory_does_not_grow_with_them(api: Api) -> None:
    await api.user("alice", credits=10_000)
    alice = await api.bearer("alice")
    image = padded_png(10 * MB - 1024)
    boundary = "imagebatch-test-boundary"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}

    async def upload(files: int) -> httpx.Response:
        body = multipart_stream(boundary, image, files, {"prompt": "p"})
        return await alice.post(
            "/api/batches", params={"dry_run": "true"}, content=body, headers=headers, timeout=60
        )

    # The same four at once with two files each: worker threads, their allocator arenas and
    # imports in place; what follows is what 2 GB more of upload adds.
    warm = await asyncio.gather(*(upload(2) for _ in range(4)))
    assert [a.status_code for a in warm] == [201] * 4, warm[0].text
    before, peak = rss_bytes(), 0
    uploads = asyncio.gather(*(upload(50) for _ in range(4)))
    while not uploads.done():
        peak = max(peak, rss_bytes())
        await asyncio.sleep(0.02)  # sampling the process's memory, not waiting for an event
    answers: list[Any] = await uploads
    assert [a.status_code for a in answers] == [201] * 4, answers[0].text
    assert [a.json()["tasks"] for a in answers] == [50] * 4
    growth = (max(peak, rss_bytes()) - before) / MB
    assert growth < 100, f"RSS grew by {growth:.0f} MB while 2 GB were uploaded"
