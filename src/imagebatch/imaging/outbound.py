"""Outbound HTTP to URLs that someone else chose, connected only to addresses that passed
the check.

Checking a host name and then letting the HTTP client resolve it again to connect leaves a
gap: a name whose answer changes between the two lookups (DNS rebinding) passes the check with
a public address and is then reached at 127.0.0.1. So the check sits where the connection is
made: the transport's network backend resolves the name once, refuses it if any address is not
public, and connects to the checked address itself. httpcore still takes the TLS server name
(SNI) and the certificate's host from the URL, and httpx builds the Host header from the URL,
so pinning the address changes nothing the server sees.

Used for reference image URLs, result links of providers, and webhooks (one client factory).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # httpx and httpcore (0.1 s) are imported when a client is made
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: (host, port) -> the addresses the name has now, as text; raises socket.gaierror if none
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

#: NAT64 (RFC 6052): the last 32 bits are an IPv4 address, judged as such
NAT64 = ipaddress.ip_network("64:ff9b::/96")


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local, shared, multicast,
    reserved or unspecified, also when hidden inside an IPv6 address (IPv4-mapped, 6to4,
    NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and not is_public(address.sixtofour):
            return False
    # is_global alone lets multicast (224.0.0.0/4, ff00::/8) pass
    return address.is_global and not (address.is_multicast or address.is_reserved)


class AddressRefused(Exception):
    """A host that may not be connected to: it does not resolve, or not only to public
    addresses."""

    def __init__(
        self, kind: Literal["refused", "unresolvable"], host: str, address: str = ""
    ) -> None:
        problem = (
            f"{host} points to a private or local address ({address})"
            if kind == "refused"
            else f"cannot resolve {host}"
        )
        super().__init__(problem)
        self.kind: Literal["refused", "unresolvable"] = kind
        self.host = host
        self.address = address


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Which addresses outbound requests may reach, and how names are looked up (a test
    injects a resolver whose answers change between lookups)."""

    allow_private: bool = False
    resolver: Resolver = system_resolver

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """`host`'s addresses, each checked; AddressRefused if any may not be reached."""
        try:
            answers = await self.resolver(host, port)
        except (socket.gaierror, UnicodeError):
            raise AddressRefused("unresolvable", host) from None
        if not answers:
            raise AddressRefused("unresolvable", host)
        addresses = list(dict.fromkeys(ipaddress.ip_address(answer) for answer in answers))
        for address in addresses:
            if not self.allow_private and not is_public(address):
                raise AddressRefused("refused", host, str(address))
        return addresses


def outbound_client(policy: OutboundPolicy, timeout: float) -> httpx.AsyncClient:
    """A client for URLs someone else chose. Redirects are not followed (a caller that
    follows them checks each hop's URL), and proxies from the environment are not used: a
    proxy would resolve the name itself, past the check."""
    from imagebatch.imaging.pinned import pinned_client

    return pinned_client(policy, timeout)
