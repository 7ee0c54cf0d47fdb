"""Objects no image row uses (a worker killed between storing its output and recording
its task leaves one) are deleted once older than the grace period; files and thumbnails
of image rows, and young objects, stay."""

from __future__ import annotations

import pytest

from imagebatch.app import App
from imagebatch.blobs.base import content_key
from imagebatch.engine.library import ORPHAN_GRACE
from imagebatch.store.images import NewImage
from tests.conftest import local_or_s3


@pytest.fixture(params=["local", "s3"])
def blob_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    return local_or_s3(request)


async def stored(app: App, data: bytes) -> tuple[str, str]:
    sha256, key = content_key(data, ".png")
    await app.blobs.put(key, data)
    return sha256, key


async def test_only_objects_without_a_row_are_swept(app: App) -> None:
    sha256, used = await stored(app, b"an output with its row")
    image = await app.images.add(
        NewImage(sha256, "image/png", 1, 1, 22, used, "output"), app.clock()
    )
    _, thumbnail = await stored(app, b"its thumbnail")
    await app.images.set_thumbnail(image.id, thumbnail)
    _, orphan = await stored(app, b"the output of a worker killed before it recorded it")
    everything = sorted([used, thumbnail, orphan])

    assert await app.library.sweep_orphans() == 0  # all young: rows may be on their way
    assert sorted([key async for key in app.blobs.iter_keys()]) == everything
    assert await app.library.sweep_orphans(older_than=ORPHAN_GRACE * 0) == 1
    assert sorted([key async for key in app.blobs.iter_keys()]) == sorted([used, thumbnail])
