"""Putting a stored image's file into a folder of the user's without a second copy on disk.

A hard link when both are on one filesystem; else a reflink (a copy-on-write clone, on
filesystems that have them: Btrfs, XFS); else a plain copy. Either side may be deleted
without harming the other: a hard link is a second name for the same file, so removing
one name leaves the other; and neither the blob store nor the output folder ever writes
into an existing file (both write a new file and rename it over the old name), so nothing
written to one side reaches the other.
"""

from __future__ import annotations

import asyncio
import enum
import fcntl
import os
import secrets
import shutil
from pathlib import Path

#: Linux's FICLONE ioctl (linux/fs.h: _IOW(0x94, 9, int)): clone one file's extents into another
FICLONE = 0x40049409
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_COPY_CHUNK = 1 << 20


class Placement(enum.Enum):
    """How a file came to be in the folder, worst last."""

    #: a second name for the stored file: no extra disk space
    LINKED = "hard-linked"
    #: a copy-on-write clone: no extra disk space until one side changes
    CLONED = "reflinked"
    #: a copy of the bytes (another filesystem, or a store that is not on this machine)
    COPIED = "copied"


def place(source: Path, target: Path) -> Placement:
    """Make `target` hold the bytes of `source`, replacing what is there atomically (a
    temporary name beside it, then a rename): a crash never leaves a partial file."""
    temp = _temp_for(target)
    try:
        placement = _link_or_copy(source, temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return placement


async def place_from_loop(source: Path, target: Path) -> Placement:
    """place() for a caller on the event loop. A hard link is made right here: two calls
    that only name a file (link, rename) cost less than handing them to a thread and back
    (an output folder's files are placed one per image). A clone or a copy, which moves
    bytes, goes to a thread."""
    temp = _temp_for(target)
    try:
        _link(source, temp)
    except FileNotFoundError:
        raise  # the stored file is gone: nothing to place
    except OSError:
        return await asyncio.to_thread(place, source, target)
    try:
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return Placement.LINKED


def _temp_for(target: Path) -> Path:
    return target.with_name(f".tmp-{secrets.token_hex(8)}{target.suffix}")


def _link_or_copy(source: Path, temp: Path) -> Placement:
    try:
        _link(source, temp)
        return Placement.LINKED
    except FileNotFoundError:
        raise  # the stored file is gone: nothing to place
    except OSError:
        pass  # another filesystem (EXDEV), or one without hard links (EPERM, ENOTSUP…)
    return _clone_or_copy(source, temp)


def _link(source: Path, temp: Path) -> None:
    try:
        os.link(source, temp)
    except FileNotFoundError:
        if not source.exists():
            raise
        # The folder is made only now: it exists for all but the first file in it.
        temp.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, temp)


def _clone_or_copy(source: Path, temp: Path) -> Placement:
    with source.open("rb") as reader:
        temp.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(temp, _NEW_FILE, 0o666), "wb") as writer:
            try:
                fcntl.ioctl(writer.fileno(), FICLONE, reader.fileno())
                return Placement.CLONED
            except OSError:
                pass  # no reflinks here (EOPNOTSUPP, EXDEV, EINVAL, ENOTTY): copy the bytes
            shutil.copyfileobj(reader, writer, _COPY_CHUNK)
    return Placement.COPIED
