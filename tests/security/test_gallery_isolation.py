"""The gallery's bulk endpoints (issue 15, part 3) between users: another user's batch,
images, records and tasks answer 404 as everywhere, and nothing of theirs changes."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_another_users_ids_answer_404_and_change_nothing(api: Api) -> None:
    await api.user("alice")
    await api.user("bob")
    await api.user("root", admin=True)
    async with api.session("alice") as alice, api.session("bob") as bob:
        created = await alice.post("/api/batches", json={"prompt": "[demo:reject] {x|y}"})
        batch_id = created.json()["batch"]["id"]
        await api.wait_batch(alice, batch_id)
        ok = (await alice.post("/api/batches", json={"prompt": "alice's own"})).json()
        await api.wait_batch(alice, ok["batch"]["id"])
        tasks = (await alice.get(f"/api/batches/{batch_id}/tasks")).json()["items"]
        task_ids = [t["id"] for t in tasks]
        record = (await alice.get("/api/records", params={"status": "succeeded"})).json()
        image_id = record["items"][0]["image_id"]

        probes = [
            await bob.delete(f"/api/batches/{batch_id}"),
            await bob.post("/api/downloads", json={"image_ids": [image_id]}),
            await bob.post("/api/records/delete", json={"ids": [record["items"][0]["id"]]}),
            await bob.post("/api/tasks/retry", json={"task_ids": task_ids}),
            await bob.post("/api/images/edit", json={"image_ids": [image_id], "prompt": "mine"}),
        ]
        assert [p.status_code for p in probes] == [404] * len(probes)
        assert not any("alice" in p.text or "demo:reject" in p.text for p in probes)
        # bob's own records, filtered by alice's batch: nothing of hers
        assert (await bob.get("/api/records", params={"batch_id": batch_id})).json()["total"] == 0

        assert (await alice.get(f"/api/batches/{batch_id}")).json()["failed"] == 2
        assert (await alice.get("/api/records")).json()["total"] == 3
        assert (await alice.get(f"/api/images/{image_id}/file")).status_code == 200
        assert (await bob.get("/api/batches")).json()["items"] == []

    async with api.session("root") as root:  # admins may delete any user's finished batch
        assert (await root.delete(f"/api/batches/{batch_id}")).status_code == 204
