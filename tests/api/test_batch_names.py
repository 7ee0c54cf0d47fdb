"""Names the service gives batches carry a code beside their English text, so pages can show
them in the reader's language; a user's own name carries none. Failed tasks carry their
failure's category, in the task list and in history."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, png


async def _created(client: Any, **request: Any) -> dict[str, Any]:
    answer = await client.post("/api/batches", **request)
    assert answer.status_code == 201, answer.text
    batch: dict[str, Any] = answer.json()["batch"]
    return batch


async def test_generated_names_carry_a_code_and_own_names_do_not(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        rows = await _created(alice, json={"rows": [{"prompt": "a"}, {"prompt": "b"}]})
        assert (rows["name"], rows["name_code"], rows["name_params"]) == (
            "2 rows",
            "rows",
            {"n": 2},
        )
        one_row = await _created(alice, json={"rows": [{"prompt": "a"}]})
        assert (one_row["name"], one_row["name_params"]) == ("1 row", {"n": 1})

        files = [
            ("images", (f"{n}.png", png(color=c), "image/png"))
            for n, c in [("x", "red"), ("y", "blue")]
        ]
        images = await _created(alice, data={"prompt": "watercolour"}, files=files)
        assert (images["name"], images["name_code"], images["name_params"]) == (
            "2 images",
            "images",
            {"n": 2},
        )

        named = await _created(alice, json={"rows": [{"prompt": "a"}], "name": "2 rows"})
        assert (named["name"], named["name_code"], named["name_params"]) == ("2 rows", None, None)

        await api.wait_batch(alice, images["id"])
        tasks = (await alice.get(f"/api/batches/{images['id']}/tasks")).json()["items"]
        image_id = tasks[0]["output_image_id"]
        edit = await alice.post(f"/api/images/{image_id}/edit", json={"prompt": "at night"})
        assert edit.status_code == 201, edit.text
        batch = edit.json()["batch"]
        assert (batch["name"], batch["name_code"], batch["name_params"]) == (
            f"Edit of image {image_id}",
            "edit_of_image",
            {"id": image_id},
        )
        listed = (await alice.get("/api/batches")).json()["items"]
        assert {b["id"]: b["name_code"] for b in listed}[rows["id"]] == "rows"


async def test_a_failed_task_says_its_category_everywhere(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        rows = [{"prompt": "fine"}, {"prompt": "no [demo:reject]"}]
        batch = await _created(alice, json={"rows": rows})
        await api.wait_batch(alice, batch["id"])
        tasks = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"]
        assert [t["error_kind"] for t in tasks] == [None, "ContentRejected"]
        records = (await alice.get("/api/records")).json()["items"]
        failed = next(r for r in records if r["status"] == "failed")
        assert failed["error_kind"] == "ContentRejected"
        assert "safety filter" in failed["error_message"]
        assert (failed["batch_name_code"], failed["batch_name_params"]) == ("rows", {"n": 2})
