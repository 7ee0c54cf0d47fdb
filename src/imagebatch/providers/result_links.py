"""Images a provider hands back as links instead of bytes (a DALL·E-style `data[0].url`, a
Seedream `response_format=url` answer), downloaded at once within the fetch limits of
imaging/fetch.py: a byte cap, a time cap, at most 3 redirects, no private addresses unless
the server allows them. A link is a signed credential of sorts: its query string stays out of
every message.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from imagebatch.errors import (
    ConnectionFailed,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from imagebatch.imaging.fetch import FetchFailed, FetchLimits, fetch_bytes

#: an image link's default limits (providers/factories.py passes the server's own settings)
DEFAULT_DOWNLOAD = FetchLimits(max_bytes=64 * 1024 * 1024, timeout=20.0)


async def fetch_result(
    url: str, limits: FetchLimits, provider: str, request_id: str | None
) -> bytes:
    """The image behind a result link, or the ProviderError its failure counts as."""
    shown = "the result URL " + urlsplit(url)._replace(query="", fragment="").geturl()
    try:
        return await fetch_bytes(url, limits, shown=shown)
    except FetchFailed as failed:
        raise download_error(failed, limits, provider, request_id) from None


def download_error(
    failed: FetchFailed, limits: FetchLimits, provider: str, request_id: str | None
) -> ProviderError:
    """How a failed result download counts: a retry generates (and bills) a new image, so only
    failures a new link may not meet again are retryable."""
    text = f"{provider}: downloading {failed.problem}"
    if failed.kind == "timeout":
        return ProviderTimeout(text, request_id=request_id)
    if failed.kind in ("network", "unresolvable"):
        return ConnectionFailed(text, request_id=request_id)
    if failed.kind == "status":
        # 5xx/429: the host is struggling. 403/404/410: the link expired or is not there yet
        # (clock skew, replication); a new generation brings a fresh link.
        return ProviderUnavailable(
            f"{text}; a retry generates the image again", request_id=request_id
        )
    if failed.kind == "too_large":
        limit = limits.max_bytes / 1_048_576
        return InvalidRequest(
            f"{text} (over {limit:.0f} MiB): raise IMAGEBATCH_MAX_OUTPUT_BYTES or ask for a "
            "smaller image",
            request_id=request_id,
        )
    # refused (a private address or not http) or a redirect loop: the same next time
    hint = f" ({failed.hint})" if failed.hint else ""
    return InvalidRequest(f"{text}{hint}", request_id=request_id)
