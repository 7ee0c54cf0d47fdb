"""Creating and steering batches through HTTP; every id of another user answers 404."""

from __future__ import annotations

from tests.api.conftest import DEMO_PRICE, Api


async def test_template_batch_runs_to_completion(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        answer = await alice.post(
            "/api/batches",
            json={
                "prompt": "a {animal} in the {snow|rain}",
                "variables": {"animal": ["cat", "dog"]},
                "count": 2,
                "aspect_ratio": "16:9",
            },
        )
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert created["tasks"] == 8
        assert created["estimate"]["total"] == 8 * 0.5
        batch = await api.wait_batch(alice, created["batch"]["id"])
        assert batch["status"] == "completed" and batch["succeeded"] == 8
        tasks = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"]
        assert {t["prompt"] for t in tasks} == {
            f"a {a} in the {w}" for a in ("cat", "dog") for w in ("snow", "rain")
        }
        assert all(t["aspect_ratio"] == "16:9" and t["output_image_id"] for t in tasks)


async def test_rows_report_every_problem_with_row_and_column(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        answer = await alice.post(
            "/api/batches",
            json={
                "rows": [
                    {"prompt": "ok", "count": 2},
                    {"提示词": "bad", "分辨率": "8K"},
                    {"prompt": "x", "colour": "red"},
                ]
            },
        )
        assert answer.status_code == 422
        issues = answer.json()["error"]["issues"]
        wheres = {issue["where"] for issue in issues}
        assert "column colour" in wheres
        assert (await alice.get("/api/batches")).json()["items"] == []  # nothing enqueued


async def test_rows_with_chinese_headers_and_per_row_options(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        answer = await alice.post(
            "/api/batches",
            json={
                "rows": [
                    {"提示词": "一只猫", "图片比例": "3:4", "生成数量": 2, "文件名": "猫"},
                    {"提示词": "一只狗", "分辨率": "2k"},
                ],
                "negative_prompt": "blurry",
            },
        )
        assert answer.status_code == 201, answer.text
        batch = await api.wait_batch(alice, answer.json()["batch"]["id"])
        tasks = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"]
        assert [t["output_filename"] for t in tasks] == ["猫_1", "猫_2", "00002_一只狗"]
        assert tasks[0]["aspect_ratio"] == "3:4" and tasks[2]["resolution"] == "2K"
        assert all(t["negative_prompt"] == "blurry" for t in tasks)


async def test_dry_run_validates_and_prices_without_creating(api: Api) -> None:
    await api.user("alice", credits=1.0)
    async with api.session("alice") as alice:
        answer = await alice.post(
            "/api/batches?dry_run=1", json={"prompt": "a {x}", "variables": {"x": ["1", "2", "3"]}}
        )
        assert answer.status_code == 201
        body = answer.json()
        assert body["dry_run"] and body["batch"] is None and body["tasks"] == 3
        assert body["estimate"]["total"] == 1.5 and body["credits"] == 1.0
        assert (await alice.get("/api/batches")).json()["items"] == []


async def test_unknown_provider_and_impossible_parameters_are_refused(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        unknown = await alice.post("/api/batches", json={"prompt": "a", "provider": "nope"})
        assert unknown.status_code == 422
        assert "does not exist" in unknown.json()["error"]["issues"][0]["problem"]
        bad_ratio = await alice.post("/api/batches", json={"prompt": "a", "aspect_ratio": "5:4"})
        assert bad_ratio.status_code == 422
        both = await alice.post("/api/batches", json={"prompt": "a", "rows": [{"prompt": "b"}]})
        assert both.status_code == 422


async def test_list_and_task_pages_use_cursors(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        ids = []
        for n in range(3):
            created = await alice.post("/api/batches", json={"prompt": f"p{n}", "count": 5})
            ids.append(created.json()["batch"]["id"])
        first = (await alice.get("/api/batches?limit=2")).json()
        assert [b["id"] for b in first["items"]] == ids[::-1][:2]
        rest = (await alice.get(f"/api/batches?limit=2&cursor={first['next_cursor']}")).json()
        assert [b["id"] for b in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
        seen = []
        cursor = ""
        while True:
            page = (await alice.get(f"/api/batches/{ids[0]}/tasks?limit=2{cursor}")).json()
            seen += [t["id"] for t in page["items"]]
            if not page["next_cursor"]:
                break
            cursor = f"&cursor={page['next_cursor']}"
        assert len(seen) == 5 == len(set(seen)) and seen == sorted(seen)


async def test_a_task_page_shows_each_task_as_the_task_endpoint_does(api: Api) -> None:
    """Pages are validated from column values in one call (a fast path); the single-task
    endpoint goes through a Task record. Both must say the same, for tasks in every state
    and shape."""
    await api.user("alice")
    async with api.session("alice") as alice:
        rows = [
            {"prompt": "fine", "aspect_ratio": "16:9", "resolution": "2K", "seed": 7},
            {"prompt": "[demo:reject] refused", "negative_prompt": "blur"},
            {"prompt": "twice", "count": 2, "filename": "named"},
        ]
        created = (await alice.post("/api/batches", json={"rows": rows})).json()
        batch_id = created["batch"]["id"]
        await api.wait_batch(alice, batch_id)
        page = (await alice.get(f"/api/batches/{batch_id}/tasks")).json()
        assert len(page["items"]) == 4 and page["next_cursor"] is None
        assert {t["status"] for t in page["items"]} == {"succeeded", "failed"}
        assert [t["credits"] for t in page["items"]] == [DEMO_PRICE] * 4  # price in micros
        for listed in page["items"]:
            single = (await alice.get(f"/api/tasks/{listed['id']}")).json()
            assert listed == single


async def test_pause_resume_cancel_and_retry(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        hanging = await alice.post("/api/batches", json={"prompt": "[demo:hang] x", "count": 2})
        batch_id = hanging.json()["batch"]["id"]
        await api.wait_batch(alice, batch_id, until=["running"])
        paused = (await alice.post(f"/api/batches/{batch_id}/pause")).json()
        assert paused["status"] == "paused"
        resumed = (await alice.post(f"/api/batches/{batch_id}/resume")).json()
        assert resumed["status"] == "running"
        cancelled = (await alice.post(f"/api/batches/{batch_id}/cancel")).json()
        assert cancelled["status"] == "cancelled" and cancelled["cancelled"] == 2
        again = await alice.post(f"/api/batches/{batch_id}/cancel")
        assert again.status_code == 409

        failing = await alice.post("/api/batches", json={"prompt": "[demo:reject] y"})
        failed_id = failing.json()["batch"]["id"]
        batch = await api.wait_batch(alice, failed_id)
        assert batch["status"] == "completed_with_failures"
        task = (await alice.get(f"/api/batches/{failed_id}/tasks")).json()["items"][0]
        assert task["error_kind"] == "ContentRejected" and "rejected" in task["error_message"]
        retried = (await alice.post(f"/api/batches/{failed_id}/retry")).json()
        assert retried["retried"] == 1
        await api.wait_batch(alice, failed_id)
        one = await alice.post(f"/api/tasks/{task['id']}/retry")
        assert one.status_code == 200 and one.json()["status"] == "pending"


async def test_another_users_ids_answer_404(api: Api) -> None:
    await api.user("alice")
    await api.user("mallory")
    async with api.session("alice") as alice, api.session("mallory") as mallory:
        created = (await alice.post("/api/batches", json={"prompt": "private"})).json()
        batch_id = created["batch"]["id"]
        await api.wait_batch(alice, batch_id)
        task = (await alice.get(f"/api/batches/{batch_id}/tasks")).json()["items"][0]
        image_id = task["output_image_id"]
        for method, path in (
            ("GET", f"/api/batches/{batch_id}"),
            ("GET", f"/api/batches/{batch_id}/tasks"),
            ("GET", f"/api/batches/{batch_id}/events"),
            ("GET", f"/api/batches/{batch_id}/download"),
            ("GET", f"/api/batches/{batch_id}/webhooks"),
            ("POST", f"/api/batches/{batch_id}/cancel"),
            ("POST", f"/api/batches/{batch_id}/pause"),
            ("POST", f"/api/batches/{batch_id}/retry"),
            ("GET", f"/api/tasks/{task['id']}"),
            ("POST", f"/api/tasks/{task['id']}/retry"),
            ("GET", f"/api/images/{image_id}"),
            ("GET", f"/api/images/{image_id}/file"),
            ("GET", f"/api/images/{image_id}/thumbnail"),
            ("GET", f"/api/images/{image_id}/lineage"),
            ("POST", f"/api/assets/from-image/{image_id}"),
            ("DELETE", f"/api/records/{task['id']}"),
        ):
            answer = await mallory.request(method, path)
            assert answer.status_code == 404, (method, path, answer.text)
        edit = await mallory.post(f"/api/images/{image_id}/edit", json={"prompt": "mine now"})
        assert edit.status_code == 404
        # Naming the image directly in a row is refused too: only assets, uploads and URLs.
        sneaky = await mallory.post(
            "/api/batches",
            json={"rows": [{"prompt": "x", "reference_images": [f"image:{image_id}"]}]},
        )
        assert sneaky.status_code == 422
        assert (await mallory.get("/api/batches")).json()["items"] == []
        assert (await mallory.get("/api/records")).json()["total"] == 0


async def test_admins_see_every_batch(api: Api) -> None:
    await api.user("alice")
    await api.user("root", admin=True)
    async with api.session("alice") as alice, api.session("root") as root:
        created = (await alice.post("/api/batches", json={"prompt": "p"})).json()
        everyone = (await root.get("/api/admin/batches")).json()["items"]
        assert [b["owner"] for b in everyone] == ["alice"]
        assert (await root.get(f"/api/batches/{created['batch']['id']}")).status_code == 200
