"""The BlobStore Protocol and content-addressed keys."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

#: "ab/cd/<sha256>.ext": what content_key() makes, and the only keys a store accepts
_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]{1,5}")

CHUNK_SIZE = 65536


def content_key(data: bytes, extension: str) -> tuple[str, str]:
    """(sha256 hex, storage key): the same bytes always land under the same key."""
    digest = hashlib.sha256(data).hexdigest()
    return digest, f"{digest[:2]}/{digest[2:4]}/{digest}{extension}"


def checked_key(key: str) -> str:
    # Keys are made by content_key(); anything else (a "..", an absolute path) is a bug.
    if not _KEY.fullmatch(key):
        raise ValueError(f"blob key {key!r} is not a content key")
    return key


def is_content_key(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


class BlobStore(Protocol):
    """Image bytes by content key. A missing key raises FileNotFoundError on get/size/chunks."""

    async def put(self, key: str, data: bytes) -> None:
        """Store atomically: readers see the whole object or nothing."""

    def put_blocking(self, key: str, data: bytes) -> None:
        """The same as put(), for code already running off the event loop (in a thread)."""

    async def get(self, key: str) -> bytes: ...

    def read_chunks_blocking(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The object in chunks, for code off the event loop (a streamed ZIP)."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the object; a key already gone is not an error."""

    async def size(self, key: str) -> int:
        """The object's length in bytes (for Content-Length)."""

    def open_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The object's bytes in chunks, never the whole object in memory at once."""

    def presigned_url(self, key: str, filename: str | None = None) -> str | None:
        """A URL a client may download the object from directly, saved as `filename`;
        None when downloads should stream through our server instead."""

    def iter_keys(self) -> AsyncIterator[str]:
        """Every stored key, in no particular order (for orphan checks)."""

    def close(self) -> None:
        """Release connections (the store is not used afterwards)."""
