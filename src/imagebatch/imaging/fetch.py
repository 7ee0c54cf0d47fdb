"""Fetching images from URLs a user gave (reference images in a table), defensively.

Limits: http(s) only, a byte cap read as a stream, a total time cap, at most a few redirects,
and no private, loopback or link-local addresses (unless the server is configured to allow
them): a table must not make the server fetch from its own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from imagebatch.errors import InputError, InputIssue

MAX_REDIRECTS = 3


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int
    timeout: float = 20.0
    allow_private: bool = False


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


async def fetch_image_bytes(url: str, where: str, limits: FetchLimits) -> bytes:
    """The body at `url`, following up to MAX_REDIRECTS redirects, each hop checked."""
    try:
        async with httpx.AsyncClient(timeout=limits.timeout, follow_redirects=False) as client:
            return await asyncio.wait_for(_follow(client, url, where, limits), limits.timeout)
    except (httpx.HTTPError, TimeoutError) as error:
        reason = type(error).__name__ if isinstance(error, TimeoutError) else str(error)
        raise InputError(
            InputIssue(where, f"could not fetch {url}: {reason}", "check the URL")
        ) from None


async def _follow(client: httpx.AsyncClient, url: str, where: str, limits: FetchLimits) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        await _check_target(url, where, limits)
        async with client.stream("GET", url) as response:
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code != 200:
                raise _issue(where, f"{url} answered HTTP {response.status_code}", "check the URL")
            return await _read_capped(response, url, where, limits.max_bytes)
    raise _issue(where, f"{url} redirects more than {MAX_REDIRECTS} times", "use the final URL")


async def _read_capped(response: httpx.Response, url: str, where: str, cap: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _issue(where, f"{url} is {int(declared) / 1_048_576:.1f} MB, over the limit", "")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise _issue(
                where, f"{url} is larger than {cap / 1_048_576:.0f} MB", "use a smaller image"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def _check_target(url: str, where: str, limits: FetchLimits) -> None:
    await check_public_url(url, where, allow_private=limits.allow_private)


async def check_public_url(url: str, where: str, *, allow_private: bool) -> None:
    """Refuse anything but http(s) URLs whose host resolves only to public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise _issue(where, f"{url} is not an http(s) URL", "use http:// or https://")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
    except socket.gaierror:
        raise _issue(where, f"cannot resolve {parts.hostname}", "check the URL") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise _issue(
                where,
                f"{url} points to a private or local address ({address})",
                "use a public URL, or set IMAGEBATCH_ALLOW_PRIVATE_URLS=1 on a trusted server",
            )


def _issue(where: str, problem: str, hint: str) -> InputError:
    return InputError(InputIssue(where, problem, hint))
