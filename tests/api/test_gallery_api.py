"""The gallery's endpoints (issue 15, part 3): deleting batches, bulk downloads, deletes,
retries and edits, history filters, and what a card needs (sizes, names, the user's prompt)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from httpx_sse import aconnect_sse

from imagebatch.store.tables_accounts import credit_ledger
from tests.api.conftest import Api, png


async def finished(api: Api, client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    """Submit a JSON batch and wait for it to end; its tasks, in order."""
    answer = await client.post("/api/batches", json=body)
    assert answer.status_code == 201, answer.text
    batch_id = answer.json()["batch"]["id"]
    await api.wait_batch(client, batch_id)
    tasks: dict[str, Any] = (await client.get(f"/api/batches/{batch_id}/tasks")).json()
    return {"id": batch_id, "tasks": tasks["items"]}


async def ledger_lines(api: Api) -> list[tuple[Any, ...]]:
    query = sa.select(
        credit_ledger.c.id, credit_ledger.c.owner, credit_ledger.c.kind, credit_ledger.c.amount
    ).order_by(credit_ledger.c.id)
    rows = await api.app.db.read(lambda conn: conn.execute(query).all())
    return [tuple(row) for row in rows]


def stored(api: Api, key: str) -> bool:
    return (api.app.settings.blob_dir / key).exists()


async def test_deleting_a_batch_takes_its_tasks_and_unused_images_keeps_the_ledger(
    api: Api,
) -> None:
    await api.user("alice", credits=10)
    async with api.session("alice") as alice:
        made = await finished(api, alice, prompt="a {cat|dog}")
        kept_id, gone_id = (t["output_image_id"] for t in made["tasks"])
        kept, gone = await api.app.images.get(kept_id), await api.app.images.get(gone_id)
        # Re-edited: the first output is now the parent of another batch's image.
        edit = await alice.post(f"/api/images/{kept_id}/edit", json={"prompt": "at night"})
        await api.wait_batch(alice, edit.json()["batch"]["id"])
        before = await ledger_lines(api)
        balance = (await alice.get("/api/auth/me")).json()["credits"]

        assert (await alice.delete(f"/api/batches/{made['id']}")).status_code == 204

        assert (await alice.get(f"/api/batches/{made['id']}")).status_code == 404
        assert (await alice.get(f"/api/batches/{made['id']}/tasks")).status_code == 404
        assert (await alice.get(f"/api/tasks/{made['tasks'][0]['id']}")).status_code == 404
        assert not stored(api, gone.storage_key)
        assert (await alice.get(f"/api/images/{gone_id}")).status_code == 404
        assert stored(api, kept.storage_key)  # an edit's input: used elsewhere
        assert (await alice.get(f"/api/images/{kept_id}/file")).status_code == 200
        assert [line[1:] for line in await ledger_lines(api)] == [line[1:] for line in before]
        assert (await alice.get("/api/auth/me")).json()["credits"] == balance
        listed = (await alice.get("/api/batches")).json()["items"]
        assert made["id"] not in [b["id"] for b in listed]
        assert (await alice.delete(f"/api/batches/{made['id']}")).status_code == 404


async def test_an_unfinished_batch_is_not_deleted_until_cancelled(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        created = (await alice.post("/api/batches", json={"prompt": "[demo:hang] x"})).json()
        batch_id = created["batch"]["id"]
        await api.wait_batch(alice, batch_id, until=["running"])
        refused = await alice.delete(f"/api/batches/{batch_id}")
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert "cancel it first" in error["message"] and error["code"] == "batch_state"
        assert (await alice.get(f"/api/batches/{batch_id}")).json()["status"] == "running"
        await alice.post(f"/api/batches/{batch_id}/cancel")
        assert (await alice.delete(f"/api/batches/{batch_id}")).status_code == 204


async def test_a_live_stream_of_a_deleted_batch_ends(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        made = await finished(api, alice, prompt="watched")
        async with aconnect_sse(alice, "GET", f"/api/batches/{made['id']}/events") as source:
            stream = source.aiter_sse()
            assert (await anext(stream)).event == "batch"
            await alice.delete(f"/api/batches/{made['id']}")
            async with asyncio.timeout(5):
                rest = [sse async for sse in stream]
    assert [sse.event for sse in rest] == ["closed"]
    assert json.loads(rest[0].data)["reason"] == "deleted"


async def test_a_selection_downloads_as_one_zip_named_as_its_tasks(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        first = await finished(api, alice, prompt="one", name="first")
        second = await finished(api, alice, prompt="two", name="second")
        upload = await alice.post(
            "/api/assets", files=[("files", ("logo.png", png(), "image/png"))]
        )
        asset_image = upload.json()["added"][0]["image"]["id"]
        chosen = [first["tasks"][0]["output_image_id"], second["tasks"][0]["output_image_id"]]
        answer = await alice.post("/api/downloads", json={"image_ids": [*chosen, asset_image]})
        assert answer.status_code == 200, answer.text
        assert "images-3.zip" in answer.headers["content-disposition"]
        archive = zipfile.ZipFile(io.BytesIO(answer.content))
        names = sorted(archive.namelist())
        assert names == sorted(
            [f"{t['output_filename']}.jpg" for t in (first["tasks"][0], second["tasks"][0])]
            + ["logo.png", "manifest.csv"]
        )
        manifest = list(
            csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig")))
        )
        assert {row["prompt"] for row in manifest} == {"one", "two", ""}
        for body in ({"image_ids": []}, {"image_ids": list(range(1, 1002))}, {"ids": [1]}):
            assert (await alice.post("/api/downloads", json=body)).status_code == 422


async def test_records_delete_together_or_not_at_all(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        made = await finished(api, alice, prompt="r {1|2|3}")
        ids = [t["id"] for t in made["tasks"]]
        refused = await alice.post("/api/records/delete", json={"ids": [ids[0], 999_999]})
        assert refused.status_code == 404 and "999999" in refused.json()["error"]["message"]
        assert (await alice.get("/api/records")).json()["total"] == 3
        answer = await alice.post("/api/records/delete", json={"ids": ids[:2]})
        assert answer.status_code == 200 and answer.json() == {"deleted": 2}
        left = (await alice.get("/api/records")).json()
        assert [r["id"] for r in left["items"]] == [ids[2]]
        gone = await alice.get(f"/api/images/{made['tasks'][0]['output_image_id']}")
        assert gone.status_code == 404


async def test_failed_tasks_retry_together_all_or_nothing(api: Api) -> None:
    await api.user("alice", credits=1.0)
    async with api.session("alice") as alice:
        failed = await finished(api, alice, prompt="[demo:reject] x", count=2)
        fine = await finished(api, alice, prompt="fine")
        failed_ids = [t["id"] for t in failed["tasks"]]
        mixed = await alice.post(
            "/api/tasks/retry", json={"task_ids": [*failed_ids, fine["tasks"][0]["id"]]}
        )
        assert mixed.status_code == 409 and str(fine["tasks"][0]["id"]) in mixed.text
        # 0.5 credits left: retrying both (1.0) is refused, and neither goes back
        assert (
            await alice.post("/api/tasks/retry", json={"task_ids": failed_ids})
        ).status_code == 402
        statuses = {
            t["status"]
            for t in (await alice.get(f"/api/batches/{failed['id']}/tasks")).json()["items"]
        }
        assert statuses == {"failed"}
        answer = await alice.post("/api/tasks/retry", json={"task_ids": failed_ids[:1]})
        assert answer.status_code == 200 and answer.json() == {"retried": 1}
        batch = await api.wait_batch(alice, failed["id"])
        assert batch["failed"] == 2  # it failed again, as its prompt asks


async def test_several_images_are_edited_as_one_new_batch_with_lineage(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        made = await finished(api, alice, prompt="base {a|b}", aspect_ratio="16:9")
        inputs = [t["output_image_id"] for t in made["tasks"]]
        body = {"image_ids": inputs, "prompt": "make it snow", "count": 2}
        dry = await alice.post("/api/images/edit", params={"dry_run": 1}, json=body)
        assert dry.status_code == 201 and dry.json()["batch"] is None and dry.json()["tasks"] == 4
        answer = await alice.post("/api/images/edit", json=body)
        assert answer.status_code == 201, answer.text
        batch = answer.json()["batch"]
        assert batch["mode"] == "edit" and batch["total"] == 4
        await api.wait_batch(alice, batch["id"])
        tasks = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"]
        assert [t["input_image_id"] for t in tasks] == [inputs[0]] * 2 + [inputs[1]] * 2
        first_names = {t["output_filename"] for t in made["tasks"]}
        assert {t["input_name"] for t in tasks} == first_names
        assert {t["user_prompt"] for t in tasks} == {"make it snow"}
        assert all(t["width"] and t["height"] for t in tasks)
        lineage = (await alice.get(f"/api/images/{tasks[3]['output_image_id']}/lineage")).json()
        assert [i["id"] for i in lineage][:2] == [tasks[3]["output_image_id"], inputs[1]]
        missing = await alice.post("/api/images/edit", json={**body, "image_ids": [999_999]})
        assert missing.status_code == 404


async def test_task_pages_carry_each_outputs_size(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        wide = await finished(api, alice, prompt="wide", aspect_ratio="16:9")
        tall = await finished(api, alice, prompt="tall", aspect_ratio="9:16")
        (w,), (t,) = wide["tasks"], tall["tasks"]
        assert w["width"] > w["height"] and t["width"] < t["height"]
        image = (await alice.get(f"/api/images/{w['output_image_id']}")).json()
        assert (w["width"], w["height"]) == (image["width"], image["height"])
        assert w["input_name"] is None and w["user_prompt"] is None


async def test_records_filter_by_batch_provider_status_and_days(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        good = await finished(api, alice, prompt="cat {1|2}")
        bad = await finished(api, alice, prompt="[demo:reject] cat")

        async def ids(**params: Any) -> list[int]:
            answer = await alice.get("/api/records", params=params)
            assert answer.status_code == 200, answer.text
            return [r["id"] for r in answer.json()["items"]]

        good_ids = sorted((t["id"] for t in good["tasks"]), reverse=True)
        assert await ids(batch_id=good["id"]) == good_ids
        assert await ids(status="failed") == [bad["tasks"][0]["id"]]
        assert await ids(status="succeeded", search="cat") == good_ids
        assert await ids(provider="openai") == []
        assert len(await ids(provider="demo")) == 3
        today = datetime.now(UTC).date()
        assert len(await ids(since=str(today), until=str(today))) == 3
        assert await ids(until=str(today - timedelta(days=1))) == []
        assert await ids(since=str(today + timedelta(days=1))) == []
        for wrong in ({"status": "pending"}, {"since": "yesterday"}):
            assert (await alice.get("/api/records", params=wrong)).status_code == 422
        swapped = {"since": str(today), "until": str(today - timedelta(days=1))}
        assert (await alice.get("/api/records", params=swapped)).status_code == 422
        card = (await alice.get("/api/records", params={"batch_id": good["id"]})).json()["items"][0]
        task = good["tasks"][-1]
        assert card["image_id"] == task["output_image_id"]
        assert (card["width"], card["height"]) == (task["width"], task["height"])
        assert card["file_name"] == f"{task['output_filename']}.jpg"  # the demo makes JPEGs
        assert card["batch_id"] == good["id"] and card["created_at"] and card["model"]
