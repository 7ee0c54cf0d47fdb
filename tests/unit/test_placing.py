"""Putting a stored file into the output folder: a hard link, else a reflink, else a copy."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from imagebatch.blobs import placing
from imagebatch.blobs.local import write_atomically
from imagebatch.blobs.placing import Placement, place, place_from_loop


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    path = tmp_path / "blobs" / "ab" / "cd" / "stored.png"
    write_atomically(path, b"the stored image")
    return path


def refuse_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the OS answers when the output folder is on another filesystem."""

    def link(*_: object, **__: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", link)


def test_same_filesystem_gets_a_hard_link(stored: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "cat.png"  # the folder does not exist yet

    assert place(stored, target) is Placement.LINKED

    assert target.stat().st_ino == stored.stat().st_ino
    assert stored.stat().st_nlink == 2
    assert [p.name for p in target.parent.iterdir()] == ["cat.png"]  # no temporary file left


def test_another_filesystem_gets_a_copy_or_a_clone(
    stored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_links(monkeypatch)
    target = tmp_path / "out" / "cat.png"

    # a clone where the filesystem has reflinks (Btrfs, XFS), a copy elsewhere (ext4)
    assert place(stored, target) in (Placement.CLONED, Placement.COPIED)

    assert target.read_bytes() == b"the stored image"
    assert target.stat().st_ino != stored.stat().st_ino
    assert stored.stat().st_nlink == 1


def test_without_reflinks_the_bytes_are_copied(
    stored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_links(monkeypatch)

    def no_clone(*_: object) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(placing.fcntl, "ioctl", no_clone)
    target = tmp_path / "out" / "cat.png"

    assert place(stored, target) is Placement.COPIED
    assert target.read_bytes() == b"the stored image"


def test_deleting_either_side_leaves_the_other_whole(stored: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "out" / "one.png", tmp_path / "again" / "one.png"
    place(stored, first)
    place(stored, second)

    first.unlink()  # the output folder cleared
    assert stored.read_bytes() == b"the stored image"
    stored.unlink()  # the record deleted, its file with it
    assert second.read_bytes() == b"the stored image"


def test_writing_into_the_folder_never_writes_through_the_link(
    stored: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "cat.png"
    place(stored, target)
    other = tmp_path / "blobs" / "other.png"
    write_atomically(other, b"another image")

    write_atomically(target, b"rewritten")  # how the folder's files are (re)written
    place(other, target)  # or placed again under the same name

    assert stored.read_bytes() == b"the stored image"
    assert target.read_bytes() == b"another image"


def test_a_missing_stored_file_is_an_error_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()

    with pytest.raises(FileNotFoundError):
        place(tmp_path / "gone.png", folder / "cat.png")
    assert list(folder.iterdir()) == []


async def test_from_the_event_loop_a_link_is_made_in_place(stored: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "cat.png"
    target.parent.mkdir()
    target.write_bytes(b"an older image")  # replaced, as place() replaces

    assert await place_from_loop(stored, target) is Placement.LINKED

    assert target.stat().st_ino == stored.stat().st_ino
    assert [p.name for p in target.parent.iterdir()] == ["cat.png"]


async def test_from_the_event_loop_another_filesystem_still_gets_a_copy(
    stored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_links(monkeypatch)
    target = tmp_path / "out" / "cat.png"

    assert await place_from_loop(stored, target) in (Placement.CLONED, Placement.COPIED)
    assert target.read_bytes() == b"the stored image"
    assert stored.stat().st_nlink == 1


async def test_from_the_event_loop_a_missing_stored_file_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()

    with pytest.raises(FileNotFoundError):
        await place_from_loop(tmp_path / "gone.png", folder / "cat.png")
    assert list(folder.iterdir()) == []
