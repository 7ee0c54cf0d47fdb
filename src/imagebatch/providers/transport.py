"""Network failures below the HTTP layer, translated once for every provider."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import httpx2

from imagebatch.errors import ConnectionFailed, ProviderTimeout

#: httpx for most providers, httpx2 under the newer SDKs; the builtin TimeoutError is what
#: aiohttp raises (the OpenAI image calls), its ServerTimeoutError included
TIMEOUT_ERRORS = (TimeoutError, httpx.TimeoutException, httpx2.TimeoutException)
TRANSPORT_ERRORS = (httpx.TransportError, httpx2.TransportError)


@contextmanager
def network_errors(provider: str, broken: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Timeouts become ProviderTimeout, refused or broken connections ConnectionFailed.

    `broken`: another client's classes for a broken connection, given by the module that
    imports that client (aiohttp's: importing it here would cost every provider 0.3 s)."""
    try:
        yield
    except TIMEOUT_ERRORS:
        raise ProviderTimeout(f"{provider}: the request timed out") from None
    except TRANSPORT_ERRORS + broken as error:
        raise ConnectionFailed(f"{provider}: cannot connect ({type(error).__name__})") from None
