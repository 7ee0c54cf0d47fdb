"""Both blob stores through the BlobStore Protocol: a folder, and a real S3 server (moto's,
on loopback) reached through boto3."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from imagebatch.blobs.base import BlobStore, content_key, open_in_thread
from imagebatch.blobs.factory import open_blob_store
from imagebatch.blobs.local import LocalBlobStore, write_atomically
from imagebatch.blobs.s3 import S3BlobStore, parse_s3_url
from imagebatch.config import Settings
from imagebatch.domain.disposition import disposition
from tests.services import S3Server

DATA = bytes(range(256)) * 1000  # 256 kB: several chunks


def s3_settings(tmp_path: Path, s3: S3Server, **extra: object) -> Settings:
    return Settings(data_dir=tmp_path, **s3.settings(s3.new_bucket(), "a/b"), **extra)  # type: ignore[arg-type]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        opened = open_blob_store(Settings(data_dir=tmp_path))
    else:
        opened = open_blob_store(s3_settings(tmp_path, request.getfixturevalue("s3")))
    yield opened
    opened.close()


async def test_put_get_size_chunks_and_delete(store: BlobStore) -> None:
    _, key = content_key(DATA, ".png")
    assert not await store.exists(key)
    await store.put(key, DATA)
    await store.put(key, DATA)  # the same bytes again: harmless
    assert await store.exists(key)
    assert await store.get(key) == DATA
    assert await store.size(key) == len(DATA)
    chunks = [chunk async for chunk in store.open_chunks(key, chunk_size=65536)]
    assert [len(c) for c in chunks] == [65536] * 3 + [len(DATA) - 3 * 65536]
    assert b"".join(chunks) == DATA
    await store.delete(key)
    await store.delete(key)  # already gone: not an error
    assert not await store.exists(key)


async def test_iter_keys_lists_every_stored_key(store: BlobStore) -> None:
    keys = [content_key(bytes([i]) * 10, ".jpg")[1] for i in range(5)]
    for i, key in enumerate(keys):
        store.put_blocking(key, bytes([i]) * 10) if i % 2 else await store.put(key, bytes([i]) * 10)
    assert sorted([key async for key in store.iter_keys()]) == sorted(keys)


async def test_iter_objects_tells_when_each_was_written(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)  # S3 times are whole seconds
    keys = [content_key(bytes([i]) * 10, ".png")[1] for i in range(3)]
    for i, key in enumerate(keys):
        await store.put(key, bytes([i]) * 10)
    listed = {stored.key: stored.modified async for stored in store.iter_objects()}
    assert sorted(listed) == sorted(keys)
    assert all(before <= modified <= datetime.now(UTC) for modified in listed.values())


async def test_storing_an_existing_object_again_counts_as_a_new_write(store: BlobStore) -> None:
    """The orphan sweep spares young objects: an output identical to an old unused object is
    about to be used again, so storing it must make it young."""
    _, key = content_key(DATA, ".png")
    await store.put(key, DATA)
    if isinstance(store, LocalBlobStore):  # S3 rewrites the object; age the file by hand
        old = (datetime.now(UTC) - timedelta(days=1)).timestamp()
        os.utime(store.path(key), (old, old))
        [aged] = [stored async for stored in store.iter_objects()]
        assert aged.modified < datetime.now(UTC) - timedelta(hours=23)
    store.put_blocking(key, DATA)
    [stored] = [stored async for stored in store.iter_objects()]
    assert stored.modified > datetime.now(UTC) - timedelta(minutes=5)
    assert await store.get(key) == DATA


async def test_missing_keys_raise_file_not_found(store: BlobStore) -> None:
    _, key = content_key(b"never stored", ".png")
    with pytest.raises(FileNotFoundError):
        await store.get(key)
    with pytest.raises(FileNotFoundError):
        await store.size(key)
    with pytest.raises(FileNotFoundError):
        _ = [chunk async for chunk in store.open_chunks(key)]


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/x.png", "ab/cd/short.png"])
async def test_keys_that_are_not_content_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="is not a content key"):
        await store.put(key, b"x")
    with pytest.raises(ValueError, match="is not a content key"):
        store.presigned_url(key, None)


async def test_local_store_streams_through_the_server(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    _, key = content_key(DATA, ".png")
    await store.put(key, DATA)
    assert store.presigned_url(key, "x.png") is None


async def test_s3_objects_live_under_the_prefix(tmp_path: Path, s3: S3Server) -> None:
    store = open_blob_store(s3_settings(tmp_path, s3))
    assert isinstance(store, S3BlobStore)
    try:
        _, key = content_key(DATA, ".webp")
        await store.put(key, DATA)
        head = store.client.head_object(Bucket=store.bucket, Key=f"a/b/{key}")
        assert (head["ContentLength"], head["ContentType"]) == (len(DATA), "image/webp")
        assert store.presigned_url(key, "x.webp") is None  # presigned downloads are off
        assert not tmp_path.joinpath("blobs").exists()
    finally:
        store.close()


async def test_presigned_url_downloads_the_object_under_its_name(
    tmp_path: Path, s3: S3Server
) -> None:
    settings = s3_settings(tmp_path, s3, s3_presigned_downloads=True, s3_presign_seconds=60)
    store = open_blob_store(settings)
    try:
        _, key = content_key(DATA, ".png")
        await store.put(key, DATA)
        url = store.presigned_url(key, "猫 cat.png")
        assert url is not None and url.startswith(s3.endpoint)
        async with httpx.AsyncClient() as client:
            answer = await client.get(url)
        assert answer.status_code == 200 and answer.content == DATA
        assert answer.headers["content-disposition"] == disposition("猫 cat.png")
        # moto does not check signatures; that the URL is signed for 60 s is what we can see
        query = httpx.URL(url).params
        assert query["X-Amz-Expires"] == "60" and query["X-Amz-Signature"]
    finally:
        store.close()


def test_content_disposition_has_an_ascii_fallback_and_the_exact_name() -> None:
    assert disposition('a "b".png') == (
        "attachment; filename=\"a _b_.png\"; filename*=UTF-8''a%20%22b%22.png"
    )
    assert disposition("猫.png") == (
        "attachment; filename=\"_.png\"; filename*=UTF-8''%E7%8C%AB.png"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/images/", ("bucket", "images/")),
        ("s3://bucket/a/b", ("bucket", "a/b/")),
    ],
)
def test_parse_s3_url(url: str, expected: tuple[str, str]) -> None:
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [("/var/blobs", "is not supported"), ("s3:///prefix", "names no bucket")],
)
def test_bad_storage_urls_are_refused_with_a_hint(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(storage_url=url)


async def test_what_is_opened_for_a_request_that_went_away_is_closed() -> None:
    """A download cancelled while its file (or S3 body) is being opened in a thread: the
    thread's result arrives after no one waits for it, and must still be closed."""
    started, release, closed = threading.Event(), threading.Event(), threading.Event()

    class Handle:
        def close(self) -> None:
            closed.set()

    def opener() -> Handle:
        started.set()
        release.wait(5)
        return Handle()

    job = asyncio.create_task(open_in_thread(opener))
    assert await asyncio.to_thread(started.wait, 5)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    release.set()
    assert await asyncio.to_thread(closed.wait, 5)


def test_atomic_write_makes_the_folder_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "file.png"
    write_atomically(target, b"first")
    write_atomically(target, b"second")  # replaces; the folder now exists
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.png"]
    # The mode follows the umask like any new file (a temporary file's 0600 would be kept).
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_atomic_write_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_atomically(tmp_path / "file.png", "not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
