"""Live events over SSE, the streamed ZIP, single-image downloads and thumbnails."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from PIL import Image

from imagebatch.api import feeds
from imagebatch.api.routes import events
from imagebatch.engine.events import Event
from imagebatch.imaging import provenance
from tests.api.conftest import Api
from tests.waiting import wait_until_async


async def test_sse_delivers_task_and_batch_events_until_the_end(api: Api) -> None:
    await api.user("alice")
    await api.user("root", admin=True)
    async with api.session("root") as root:
        await root.put("/api/admin/settings", json={"global_concurrency": 1})
    async with api.session("alice") as alice:
        # A hanging task holds the only slot, so the watched batch starts once we listen.
        created = (await alice.post("/api/batches", json={"prompt": "[demo:hang] x"})).json()
        hanging = created["batch"]["id"]
        await api.wait_batch(alice, hanging, until=["running"])
        watched = (await alice.post("/api/batches", json={"prompt": "p", "count": 3})).json()
        batch_id = watched["batch"]["id"]
        events: list[tuple[str, dict[str, Any]]] = []
        async with aconnect_sse(alice, "GET", f"/api/batches/{batch_id}/events") as source:
            stream = source.aiter_sse()
            first = await anext(stream)
            events.append((first.event, json.loads(first.data)))
            await alice.post(f"/api/batches/{hanging}/cancel")  # frees the slot
            async with asyncio.timeout(10):
                async for sse in stream:
                    events.append((sse.event, json.loads(sse.data)))
                    if sse.event == "batch" and json.loads(sse.data)["status"] == "completed":
                        break
    assert events[0][0] == "batch" and events[0][1]["status"] == "queued"
    finished = [d for kind, d in events if kind == "task" and d["status"] == "succeeded"]
    assert len(finished) == 3 and all(d["output_image_id"] for d in finished)
    assert events[-1][1]["succeeded"] == 3


async def test_sse_events_published_together_arrive_each_whole_and_in_order(api: Api) -> None:
    """Events that arrive together go out in one write per client: still separate events."""
    await api.user("alice")
    async with api.session("alice") as alice:
        created = (await alice.post("/api/batches", json={"prompt": "[demo:hang] x"})).json()
        batch_id = created["batch"]["id"]
        async with aconnect_sse(alice, "GET", f"/api/batches/{batch_id}/events") as source:
            stream = source.aiter_sse()
            await anext(stream)  # the snapshot on connect
            for n in range(5):  # in one go: the feed finds them queued together
                api.app.events.publish(
                    Event("task", batch_id=batch_id, task_id=1000 + n, status="running")
                )
            async with asyncio.timeout(10):
                got = [json.loads(sse.data) async for sse in _task_events(stream, 5)]
        await alice.post(f"/api/batches/{batch_id}/cancel")
    assert [d["task_id"] for d in got] == [1000, 1001, 1002, 1003, 1004]


async def _task_events(stream: AsyncIterator[ServerSentEvent], count: int) -> Any:
    async for sse in stream:
        if sse.event == "task" and json.loads(sse.data)["task_id"] >= 1000:
            yield sse
            count -= 1
            if not count:
                return


async def test_sse_streams_send_keepalive_pings(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxies close a connection that stays silent: an idle stream sends a comment now and
    then (every PING_SECONDS; shortened here)."""
    monkeypatch.setattr(events, "PING_SECONDS", 0.05)
    await api.user("alice")
    async with api.session("alice") as alice:
        created = (await alice.post("/api/batches", json={"prompt": "[demo:hang] x"})).json()
        batch_id = created["batch"]["id"]
        async with alice.stream("GET", f"/api/batches/{batch_id}/events") as answer:
            async with asyncio.timeout(10):
                lines = answer.aiter_lines()
                while not (line := await anext(lines)).startswith(":"):
                    pass
        await alice.post(f"/api/batches/{batch_id}/cancel")
    assert "ping" in line


async def test_a_client_that_leaves_releases_its_feed(api: Api) -> None:
    """The batch's feed (a subscription to the event bus) ends with its last client, also
    when that client just goes away while nothing happens."""
    await api.user("alice")
    async with api.session("alice") as alice:
        created = (await alice.post("/api/batches", json={"prompt": "[demo:hang] x"})).json()
        batch_id = created["batch"]["id"]
        before = _bus_subscribers(api)
        async with aconnect_sse(alice, "GET", f"/api/batches/{batch_id}/events") as source:
            await anext(source.aiter_sse())  # the snapshot: the feed is running
            assert _bus_subscribers(api) == before + 1
        await wait_until_async(lambda: _bus_subscribers(api) == before, awaiting="the feed to end")
        await alice.post(f"/api/batches/{batch_id}/cancel")


def _bus_subscribers(api: Api) -> int:
    return len(api.app.events._subscribers)  # each feed holds one subscription


async def test_messages_waiting_for_a_client_go_out_together_and_end_last() -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for message in (b"a", b"b", feeds.END):
        queue.put_nowait(message)
    assert await feeds.next_chunk(queue) == b"ab"
    assert await feeds.next_chunk(queue) == feeds.END


async def test_zip_download_has_every_output_named_and_a_manifest(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        rows = [
            {"prompt": "first", "filename": "cover"},
            {"prompt": "second", "filename": "cover"},
            {"prompt": "[demo:reject] third", "filename": "back"},
        ]
        created = (await alice.post("/api/batches", json={"rows": rows})).json()
        batch = await api.wait_batch(alice, created["batch"]["id"])
        answer = await alice.get(f"/api/batches/{batch['id']}/download")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert int(answer.headers["content-length"]) == len(answer.content)
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    names = sorted(archive.namelist())
    assert names == ["cover-2.jpg", "cover.jpg", "manifest.csv"]
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [(r["file"], r["status"]) for r in manifest] == [
        ("cover.jpg", "succeeded"),
        ("cover-2.jpg", "succeeded"),
        ("", "failed"),
    ]
    stamped = provenance.read(archive.read("cover.jpg"))
    assert stamped is not None and stamped["prompt"] == "first"


async def test_image_file_thumbnail_and_caching(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        created = (
            await alice.post("/api/batches", json={"prompt": "p", "aspect_ratio": "16:9"})
        ).json()
        batch = await api.wait_batch(alice, created["batch"]["id"])
        task = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"][0]
        image_id = task["output_image_id"]
        file = await alice.get(f"/api/images/{image_id}/file?download=1")
        assert file.headers["content-type"] == "image/jpeg"
        assert "attachment" in file.headers["content-disposition"]
        again = await alice.get(
            f"/api/images/{image_id}/file", headers={"If-None-Match": file.headers["etag"]}
        )
        assert again.status_code == 304
        thumb = await alice.get(f"/api/images/{image_id}/thumbnail")
        small = Image.open(io.BytesIO(thumb.content))
        assert small.format == "WEBP" and max(small.size) == 256 and small.width > small.height
        row = await api.app.images.get(image_id)
        assert row.thumbnail_key  # made once, kept
