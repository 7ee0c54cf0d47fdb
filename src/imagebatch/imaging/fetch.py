"""Fetching images from URLs, defensively: reference images a user gave in a table, and
results a provider hands back as URLs (Seedream with `response_format=url`).

Limits: http(s) only, a byte cap read as a stream, a total time cap, at most a few redirects,
and no private, loopback or link-local addresses (unless the server is configured to allow
them): neither a table nor a provider's answer may make the server fetch from its own network.
Each hop's host is checked before the request, for a clear error, and again where the
connection is made, which connects only to the address it checked (outbound.py: DNS rebinding).
`fetch_bytes` says why a fetch failed (`FetchFailed.kind`) so each caller can classify it;
`fetch_image_bytes` turns that into an input error for a table's cell.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urljoin, urlsplit

from imagebatch.errors import InputError, InputIssue, Params
from imagebatch.imaging.outbound import (
    AddressRefused,
    OutboundPolicy,
    Resolver,
    outbound_client,
    system_resolver,
)

if TYPE_CHECKING:  # imported where a URL is fetched: a run without one never pays for httpx
    import httpx

MAX_REDIRECTS = 3
PRIVATE_HINT = "use a public URL, or set IMAGEBATCH_ALLOW_PRIVATE_URLS=1 on a trusted server"

#: refused: not http(s) or a private address; unresolvable: DNS failed; status: an HTTP error
#: status; too_large: over the byte cap; redirects: too many hops; timeout; network: any
#: other transport failure
FetchFailure = Literal[
    "refused", "unresolvable", "status", "too_large", "redirects", "timeout", "network"
]


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int
    timeout: float = 20.0
    allow_private: bool = False
    resolver: Resolver = system_resolver

    @property
    def policy(self) -> OutboundPolicy:
        return OutboundPolicy(self.allow_private, self.resolver)


class FetchFailed(Exception):
    """A URL could not be fetched within the limits."""

    def __init__(
        self,
        kind: FetchFailure,
        problem: str,
        hint: str = "",
        status: int | None = None,
        *,
        code: str,
        params: Params,
    ) -> None:
        super().__init__(problem)
        self.kind: FetchFailure = kind
        self.problem = problem
        self.hint = hint
        self.status = status
        #: as on an InputIssue: a stable name for pages to translate, and its values
        self.code = code
        self.params = params

    def issue(self, where: str) -> InputIssue:
        return InputIssue(where, self.problem, self.hint, self.code, self.params)


async def fetch_image_bytes(url: str, where: str, limits: FetchLimits) -> bytes:
    """The body at `url` for a reference image; any failure is an input error at `where`."""
    try:
        return await fetch_bytes(url, limits)
    except FetchFailed as failed:
        raise InputError(failed.issue(where)) from None


async def fetch_bytes(url: str, limits: FetchLimits, shown: str | None = None) -> bytes:
    """The body at `url`, following up to MAX_REDIRECTS redirects, each hop checked.

    `shown` names the URL in messages when the URL itself should not be repeated (a signed
    link is a credential of sorts).
    """
    import httpx

    try:
        async with outbound_client(limits.policy, limits.timeout) as client:
            return await asyncio.wait_for(_follow(client, url, shown, limits), limits.timeout)
    except (httpx.HTTPError, TimeoutError) as error:
        timed_out = isinstance(error, TimeoutError | httpx.TimeoutException)
        # httpx's text repeats the URL: not shown when the URL is to be kept quiet
        reason = str(error) if not shown and str(error) else type(error).__name__
        raise FetchFailed(
            "timeout" if timed_out else "network",
            f"could not fetch {shown or url}: {reason}",
            "check the URL",
            code="url_fetch_failed",
            params={"url": shown or url, "reason": reason},
        ) from None


async def _follow(
    client: httpx.AsyncClient, url: str, shown: str | None, limits: FetchLimits
) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        name = shown or url
        try:
            await _check_target(url, name, limits.policy)
            outcome = await _get(client, url, name, limits.max_bytes)
        except AddressRefused as refused:  # the connection's own check, on its own lookup
            raise _refusal(refused, name) from None
        if isinstance(outcome, bytes):
            return outcome
        url = outcome
    raise FetchFailed(
        "redirects",
        f"{shown or url} redirects more than {MAX_REDIRECTS} times",
        "use the final URL",
        code="url_redirects",
        params={"url": shown or url, "max": MAX_REDIRECTS},
    )


async def _get(client: httpx.AsyncClient, url: str, name: str, cap: int) -> bytes | str:
    """The body at `url`, or the URL it redirects to."""
    async with client.stream("GET", url) as response:
        if response.is_redirect and "location" in response.headers:
            return urljoin(url, response.headers["location"])
        if response.status_code != 200:
            raise FetchFailed(
                "status",
                f"{name} answered HTTP {response.status_code}",
                "check the URL",
                response.status_code,
                code="url_status",
                params={"url": name, "status": response.status_code},
            )
        return await _read_capped(response, name, cap)


async def _read_capped(response: httpx.Response, name: str, cap: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise FetchFailed(
            "too_large",
            f"{name} is {int(declared) / 1_048_576:.1f} MB, over the limit of "
            f"{cap / 1_048_576:.1f} MB",
            code="url_too_large",
            params={"url": name, "limit": f"{cap / 1_048_576:.1f} MB"},
        )
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise FetchFailed(
                "too_large",
                f"{name} is larger than {cap / 1_048_576:.1f} MB, the limit",
                "use a smaller image",
                code="url_too_large",
                params={"url": name, "limit": f"{cap / 1_048_576:.1f} MB"},
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def check_public_url(
    url: str, where: str, *, allow_private: bool, resolver: Resolver = system_resolver
) -> None:
    """Refuse anything but http(s) URLs whose host resolves only to public addresses: an
    InputError at `where` (a webhook's URL, say). A check ahead of time only: the request
    itself must go through `outbound_client`, which checks the address it connects to."""
    try:
        await _check_target(url, url, OutboundPolicy(allow_private, resolver))
    except AddressRefused as refused:
        raise InputError(_refusal(refused, url).issue(where)) from None
    except FetchFailed as failed:
        raise InputError(failed.issue(where)) from None


async def _check_target(url: str, name: str, policy: OutboundPolicy) -> None:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number, or out of range
        port = 0
    if parts.scheme not in {"http", "https"} or not parts.hostname or not port:
        raise FetchFailed(
            "refused",
            f"{name} is not an http(s) URL",
            "use http:// or https://",
            code="url_not_http",
            params={"url": name},
        )
    if not policy.allow_private:
        await policy.addresses(parts.hostname, port)


def _refusal(refused: AddressRefused, name: str) -> FetchFailed:
    if refused.kind == "unresolvable":
        return FetchFailed(
            refused.kind,
            f"cannot resolve {refused.host}",
            "check the URL",
            code="url_unresolvable",
            params={"host": refused.host},
        )
    return FetchFailed(
        refused.kind,
        f"{name} points to a private or local address ({refused.address})",
        PRIVATE_HINT,
        code="url_private",
        params={"url": name, "address": refused.address},
    )
