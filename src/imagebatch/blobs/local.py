"""Blobs as files under a directory."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]{1,5}")


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        # Keys are made by content_key(); anything else (a "..", an absolute path) is a bug.
        if not _KEY.fullmatch(key):
            raise ValueError(f"blob key {key!r} is not a content key")
        return self.root / key

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self.put_blocking, key, data)

    def put_blocking(self, key: str, data: bytes) -> None:
        path = self.path(key)
        if not path.exists():  # same key, same bytes: already stored
            write_atomically(path, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self.path(key).read_bytes)

    def read_chunks_blocking(self, key: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        with self.path(key).open("rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    async def exists(self, key: str) -> bool:
        return self.path(key).exists()

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a crash leaves no partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
