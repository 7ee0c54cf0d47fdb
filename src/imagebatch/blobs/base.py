"""The BlobStore Protocol and content-addressed keys."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

#: "ab/cd/<sha256>.ext": what content_key() makes, and the only keys a store accepts
_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]{1,5}")

CHUNK_SIZE = 65536


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


async def open_in_thread(open_: Callable[[], C]) -> C:
    """open_() in a thread. If we are cancelled meanwhile (a client that went away), what it
    opens is closed when it is done, rather than left open with no one holding it."""
    future = asyncio.get_running_loop().run_in_executor(None, open_)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(_close_result)
        raise


def _close_result(future: asyncio.Future[C]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()


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


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    #: when the object was last written (UTC)
    modified: datetime


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

    def local_path(self, key: str) -> Path | None:
        """The object's own file, when the store keeps objects as files on this machine (the
        CLI's output folder links to it); None for a store elsewhere."""

    def presigned_url(self, key: str, filename: str | None = None) -> str | None:
        """A URL a client may download the object from directly, saved as `filename`;
        None when downloads should stream through our server instead."""

    def iter_keys(self) -> AsyncIterator[str]:
        """Every stored key, in no particular order (for orphan checks)."""

    def iter_objects(self) -> AsyncIterator[StoredObject]:
        """Every stored object with the time it was written, in no particular order."""

    def close(self) -> None:
        """Release connections (the store is not used afterwards)."""
