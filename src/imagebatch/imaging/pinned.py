"""The HTTP client of outbound.py: httpx over a connection pool whose network backend
connects only to addresses the policy checked (outbound.py says why the check sits there).

Apart from outbound.py so that importing the policy, as every command's start does, costs no
httpx: this module is imported when a client is made (a URL fetched, a webhook sent).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable

import httpcore
import httpx

from imagebatch.imaging.outbound import OutboundPolicy


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy checked."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.policy.addresses(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        failure = httpcore.ConnectError(f"cannot connect to {host}")
        for address in addresses:  # in the resolver's order, as a plain client would
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("outbound requests never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose connections go through PinnedBackend."""

    def __init__(self, policy: OutboundPolicy, verify: ssl.SSLContext | bool = True) -> None:
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False)
        # httpx has no public way to give its pool a network backend: replace the pool it
        # built with the same one (httpx's default limits) over ours. The rebinding tests
        # fail if a later httpx stops using it.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=PinnedBackend(policy),
        )


def pinned_client(policy: OutboundPolicy, timeout: float) -> httpx.AsyncClient:
    """outbound_client()'s client: redirects not followed, no proxy from the environment."""
    return httpx.AsyncClient(
        transport=PinnedTransport(policy),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
