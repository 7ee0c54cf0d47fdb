"""Blobs as files under a directory."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

from imagebatch.blobs.base import (
    CHUNK_SIZE,
    StoredObject,
    checked_key,
    is_content_key,
    open_in_thread,
)

#: a new file of our own: never follow or reuse what is already there
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / checked_key(key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self.put_blocking, key, data)

    def put_blocking(self, key: str, data: bytes) -> None:
        path = self.path(key)
        try:
            # Same key, same bytes: already stored. Written again all the same, as far as the
            # orphan sweep can tell: it spares objects written within its grace period.
            os.utime(path)
        except FileNotFoundError:
            write_atomically(path, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self.path(key).read_bytes)

    def read_chunks_blocking(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        with self.path(key).open("rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    async def exists(self, key: str) -> bool:
        return self.path(key).exists()

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    async def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    async def open_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        path = self.path(key)
        handle = await open_in_thread(lambda: path.open("rb"))
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def presigned_url(self, key: str, filename: str | None = None) -> str | None:
        checked_key(key)
        return None  # files on our disk are served by our server

    async def iter_keys(self) -> AsyncIterator[str]:
        walk = await asyncio.to_thread(lambda: list(self._walk()))
        for key in walk:
            yield key

    async def iter_objects(self) -> AsyncIterator[StoredObject]:
        objects = await asyncio.to_thread(lambda: list(self._stat_all()))
        for stored in objects:
            yield stored

    def close(self) -> None:
        pass  # no connections to release

    def _stat_all(self) -> Iterator[StoredObject]:
        for key in self._walk():
            try:
                mtime = self.path(key).stat().st_mtime
            except FileNotFoundError:  # deleted since the walk
                continue
            yield StoredObject(key, datetime.fromtimestamp(mtime, UTC))

    def _walk(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in self.root.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and is_content_key(key):  # skips ".tmp-" leftovers
                yield key


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a crash leaves no partial file.

    The folder is made only when the first open fails (it exists for all but the first file
    in it), and the temporary file is opened directly: `mkdir` and `mkstemp` on every write
    took 7 % of the queue's CPU time (bench/queue.py, profiled).
    """
    temp = path.with_name(f".tmp-{secrets.token_hex(8)}{path.suffix}")
    try:
        fd = os.open(temp, _NEW_FILE, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, _NEW_FILE, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
