"""Network failures below the HTTP layer, translated once for every provider."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from imagebatch.errors import ConnectionFailed, ProviderTimeout

Classes = tuple[type[Exception], ...]


@cache
def _client_errors() -> tuple[Classes, Classes]:
    """(timeouts, broken connections): httpx for most providers, httpx2 under the newer SDKs;
    the builtin TimeoutError is what aiohttp raises (the OpenAI image calls), its
    ServerTimeoutError included. Imported at the first failure, not at start: a run whose
    provider uses aiohttp alone never loads either client (0.05 s)."""
    import httpx
    import httpx2

    timeouts = (TimeoutError, httpx.TimeoutException, httpx2.TimeoutException)
    return timeouts, (httpx.TransportError, httpx2.TransportError)


@contextmanager
def network_errors(provider: str, broken: Classes = ()) -> Iterator[None]:
    """Timeouts become ProviderTimeout, refused or broken connections ConnectionFailed.

    `broken`: another client's classes for a broken connection, given by the module that
    imports that client (aiohttp's: importing it here would cost every provider 0.3 s)."""
    try:
        yield
    except Exception as error:
        timeouts, transport = _client_errors()
        if isinstance(error, timeouts):
            raise ProviderTimeout(f"{provider}: the request timed out") from None
        if isinstance(error, transport + broken):
            raise ConnectionFailed(f"{provider}: cannot connect ({type(error).__name__})") from None
        raise
