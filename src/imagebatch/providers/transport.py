"""Network failures below the HTTP layer, translated once for every provider."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from imagebatch.errors import ConnectionFailed, ProviderTimeout


def _http_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """Timeout and transport error classes of httpx and, where an SDK uses it, httpx2."""
    modules: list[Any] = [httpx]
    try:
        import httpx2  # newer google-genai and openai releases ship on httpx2

        modules.append(httpx2)
    except ImportError:
        pass
    return tuple(m.TimeoutException for m in modules), tuple(m.TransportError for m in modules)


TIMEOUT_ERRORS, TRANSPORT_ERRORS = _http_errors()


@contextmanager
def network_errors(provider: str) -> Iterator[None]:
    """Timeouts become ProviderTimeout, refused or broken connections ConnectionFailed."""
    try:
        yield
    except TIMEOUT_ERRORS:
        raise ProviderTimeout(f"{provider}: the request timed out") from None
    except TRANSPORT_ERRORS as error:
        raise ConnectionFailed(f"{provider}: cannot connect ({type(error).__name__})") from None
