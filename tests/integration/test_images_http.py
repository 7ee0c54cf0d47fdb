"""Image calls of the OpenAI providers go over plain HTTP (images_http.py), as the SDK sent
them, without importing the SDK: against the wire-faithful fake on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from imagebatch.errors import ConnectionFailed, ProviderError, ProviderUnavailable, RateLimited
from imagebatch.providers.base import ProviderRequest
from imagebatch.providers.images_http import HttpSession
from imagebatch.providers.openai_images import OpenAIImagesProvider, compatible_capabilities
from tests.fakes.openai_images import FakeOpenAI
from tests.fakes.server import Reply
from tests.flat_requests import provider_request

KEY = "sk-local-0000"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(KEY) as server:
        yield server


def compatible(fake: FakeOpenAI | str) -> OpenAIImagesProvider:
    base_url = fake if isinstance(fake, str) else fake.base_url
    return OpenAIImagesProvider(
        SecretStr(KEY),
        base_url + "/",  # a trailing slash in the setting makes no double slash
        10.0,
        name="openai-compatible",
        capabilities=compatible_capabilities("sd-xl"),
    )


def request(api_key: str | None = None) -> ProviderRequest:
    params = {"output_format": "jpeg"}
    return provider_request("sd-xl", "a fox", api_key=api_key, params=params)


async def test_a_call_carries_the_key_and_the_sdk_headers(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-bench")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-bench")
    client = compatible(fake)
    try:
        result = await client.generate(request())
    finally:
        await client.aclose()
    [sent] = fake.requests
    assert sent.path == "/v1/images/generations"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["openai-organization"] == "org-bench"
    assert sent.headers["openai-project"] == "proj-bench"
    assert result.images[0].mime == "image/jpeg" and result.request_id == "req_fake_ok"


async def test_a_session_of_another_provider_sends_no_openai_headers(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gemini shares the session class: OpenAI's organisation and project stay OpenAI's."""
    monkeypatch.setenv("OPENAI_ORG_ID", "org-bench")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-bench")
    session = HttpSession("gemini", 10.0)
    try:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        await session.post(fake.base_url + "/images/generations", headers, content=b"{}")
    finally:
        await session.aclose()
    [sent] = fake.requests
    assert sent.headers["user-agent"].startswith("imagebatch/")
    assert "openai-organization" not in sent.headers
    assert "openai-project" not in sent.headers


async def test_an_own_key_goes_with_its_call_only(fake: FakeOpenAI) -> None:
    fake.api_key = f"{KEY},sk-own-1111"
    client = compatible(fake)
    try:
        await client.generate(request(api_key="sk-own-1111"))
        await client.generate(request())
    finally:
        await client.aclose()
    keys = [r.headers["authorization"] for r in fake.requests]
    assert keys == ["Bearer sk-own-1111", f"Bearer {KEY}"]


async def test_an_answer_that_is_not_json_is_retryable_with_its_status(fake: FakeOpenAI) -> None:
    fake.fail_next(
        Reply(502, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"}),
        Reply(200, b"[1, 2]", {"Content-Type": "application/json"}),
    )
    client = compatible(fake)
    try:
        with pytest.raises(ProviderUnavailable, match="502: <html>502 Bad Gateway"):
            await client.generate(request())
        with pytest.raises(ProviderUnavailable, match="malformed response"):
            await client.generate(request())
    finally:
        await client.aclose()


async def test_retry_after_in_milliseconds_is_read(fake: FakeOpenAI) -> None:
    body = {"error": {"message": "slow down", "type": "requests", "code": None}}
    fake.fail_next(Reply(429, body, {"retry-after-ms": "1500"}))
    client = compatible(fake)
    try:
        with pytest.raises(RateLimited) as caught:
            await client.generate(request())
    finally:
        await client.aclose()
    assert caught.value.retry_after == 1.5


def test_image_calls_do_not_import_the_sdk() -> None:
    # the SDK costs 1.3 s of CPU to import; only the batch API (openai_batch.py) needs it
    code = "import sys, imagebatch.providers.openai_images; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_redirects_are_followed_and_a_loop_is_a_retryable_failure(fake: FakeOpenAI) -> None:
    moved = Reply(307, b"", {"Location": "/v1/images/generations"})
    client = compatible(fake)
    try:
        fake.fail_next(moved)
        await client.generate(request())
        assert len(fake.requests) == 2
        fake.fail_next(*[moved] * 30)
        with pytest.raises(ConnectionFailed, match="TooManyRedirects"):
            await client.generate(request())
    finally:
        await client.aclose()
    assert len(fake.requests) == 2 + 21  # 20 redirects followed, as httpx followed them


@contextlib.asynccontextmanager
async def broken_server(answer: bytes) -> AsyncIterator[str]:
    """A server on 127.0.0.1 that reads a request, sends `answer` and hangs up."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if b"length:" in line.lower()
        )
        await reader.readexactly(length)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "answer",
    [
        b"",  # hung up without a word
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n{",
    ],
    ids=["no-answer", "cut-mid-body"],
)
async def test_a_connection_broken_before_the_answer_ends_is_retryable(answer: bytes) -> None:
    async with broken_server(answer) as base_url:
        client = compatible(base_url)
        try:
            with pytest.raises(ConnectionFailed, match="cannot connect") as caught:
                await client.generate(request())
        finally:
            await client.aclose()
    assert caught.value.retryable


@pytest.fixture
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


async def test_a_proxy_from_the_environment_is_used_unless_no_proxy_names_the_host(
    fake: FakeOpenAI, no_proxy_settings: pytest.MonkeyPatch
) -> None:
    # as httpx did (trust_env): HTTP_PROXY carries the call, NO_PROXY exempts a host
    with FakeOpenAI(KEY) as proxy:
        no_proxy_settings.setenv("HTTP_PROXY", proxy.url)
        client = compatible(fake)
        try:
            with contextlib.suppress(ProviderError):  # the proxy fake is no real proxy
                await client.generate(request())
        finally:
            await client.aclose()
        assert [r.path for r in proxy.requests] == [fake.base_url + "/images/generations"]
        assert fake.requests == []
        no_proxy_settings.setenv("NO_PROXY", "127.0.0.1")
        client = compatible(fake)
        try:
            await client.generate(request())
        finally:
            await client.aclose()
        assert len(proxy.requests) == 1 and len(fake.requests) == 1


async def test_a_netrc_naming_the_host_leaves_the_key_alone(
    fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp's trust_env would read it at every call and refuse our Authorization header
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = compatible(fake)
    try:
        await client.generate(request())
    finally:
        await client.aclose()
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"
