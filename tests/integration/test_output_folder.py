"""The CLI's output folder holds the stored images once: links, not copies (issue 17 §4)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from imagebatch.app import App
from imagebatch.blobs.local import LocalBlobStore
from imagebatch.blobs.placing import Placement
from imagebatch.cli.outputs import OutputFolder
from imagebatch.domain.manifest import MANIFEST
from tests.conftest import local_or_s3
from tests.integration.helpers import prompts, run_to_end, submit


@pytest.fixture(params=["local", "s3"])
def blob_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    return local_or_s3(request)


async def finished_folder(app: App, folder: Path) -> tuple[OutputFolder, int]:
    batch = await submit(app, prompts("a red cat", "a blue dog", "a green owl"))
    await run_to_end(app, [batch.id])
    out = OutputFolder(app, folder)
    await out.finish(batch.id)
    return out, batch.id


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name != MANIFEST)


def disk_bytes(*folders: Path) -> int:
    """Space the files under the folders take, each file counted once however many names it
    has (what `du` reports)."""
    seen: dict[tuple[int, int], int] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                st = path.stat()
                seen[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    return sum(seen.values())


@pytest.mark.parametrize("blob_settings", ["local"], indirect=True)
async def test_a_local_store_links_every_output(app: App, tmp_path: Path) -> None:
    assert isinstance(app.blobs, LocalBlobStore)
    folder = tmp_path / "out"
    out, _ = await finished_folder(app, folder)

    images = images_in(folder)
    assert len(images) == 3
    assert all(p.stat().st_nlink == 2 for p in images)
    assert out.placed == {Placement.LINKED: 3}
    assert out.placement_note() == "Output files: 3 hard-linked (no second copy on disk)"
    blobs = app.settings.blob_dir
    # the folder adds its manifest and nothing else: one copy of each image on disk
    manifest = (folder / MANIFEST).stat().st_blocks * 512
    assert disk_bytes(blobs, folder) == disk_bytes(blobs) + manifest


@pytest.mark.parametrize("blob_settings", ["s3"], indirect=True)
async def test_a_remote_store_is_copied_out(app: App, tmp_path: Path) -> None:
    assert not isinstance(app.blobs, LocalBlobStore)
    folder = tmp_path / "out"
    out, _ = await finished_folder(app, folder)

    assert all(p.stat().st_nlink == 1 for p in images_in(folder))
    assert out.placement_note() == "Output files: 3 copied"


async def test_deleting_the_batch_leaves_the_folder_whole(app: App, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    _, batch_id = await finished_folder(app, folder)
    before = {p.name: p.read_bytes() for p in images_in(folder)}
    keys = [key async for key in app.blobs.iter_keys()]

    await app.library.delete_batch(batch_id)  # the records, and their stored files

    assert [key async for key in app.blobs.iter_keys() if key in keys] == []
    assert {p.name: p.read_bytes() for p in images_in(folder)} == before


async def test_deleting_the_folder_leaves_the_stored_images_whole(app: App, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    await finished_folder(app, folder)
    before = {p.read_bytes() for p in images_in(folder)}

    shutil.rmtree(folder)

    stored = {await app.blobs.get(key) async for key in app.blobs.iter_keys()}
    assert before <= stored


async def test_a_second_export_keeps_the_links(app: App, tmp_path: Path) -> None:
    """Running the same batch's export again (a resumed run) finds the files in place."""
    folder = tmp_path / "out"
    _, batch_id = await finished_folder(app, folder)
    inodes = {p.name: os.stat(p).st_ino for p in images_in(folder)}

    again = OutputFolder(app, folder)
    await again.finish(batch_id)

    assert again.placement_note() is None  # nothing needed placing
    assert {p.name: os.stat(p).st_ino for p in images_in(folder)} == inodes
