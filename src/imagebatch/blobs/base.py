"""The BlobStore Protocol and content-addressed keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Protocol


def content_key(data: bytes, extension: str) -> tuple[str, str]:
    """(sha256 hex, storage key): the same bytes always land under the same key."""
    digest = hashlib.sha256(data).hexdigest()
    return digest, f"{digest[:2]}/{digest[2:4]}/{digest}{extension}"


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None:
        """Store atomically: readers see the whole object or nothing."""

    def put_blocking(self, key: str, data: bytes) -> None:
        """The same as put(), for code already running off the event loop (in a thread)."""

    async def get(self, key: str) -> bytes: ...

    def read_chunks_blocking(self, key: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """The object in chunks, for code off the event loop (a streamed ZIP)."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...
