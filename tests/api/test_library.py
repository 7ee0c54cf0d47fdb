"""History (records), re-editing with lineage, assets, presets and the config endpoint."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_records_are_searchable_by_any_word_chinese_included(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        rows = [
            {"prompt": "a red bicycle by the sea"},
            {"prompt": "一只橘色的小猫在窗台上睡觉"},
            {"prompt": "a blue bicycle in the city"},
            {"prompt": "[demo:reject] a red car"},
        ]
        created = (await alice.post("/api/batches", json={"rows": rows})).json()
        await api.wait_batch(alice, created["batch"]["id"])

        async def found(query: str) -> list[str]:
            page = (await alice.get("/api/records", params={"search": query})).json()
            return [r["prompt"] for r in page["items"]]

        assert await found("bicycle") == ["a blue bicycle in the city", "a red bicycle by the sea"]
        assert await found("red bicycle") == ["a red bicycle by the sea"]
        assert await found("橘色的小猫") == ["一只橘色的小猫在窗台上睡觉"]
        assert await found("小猫") == ["一只橘色的小猫在窗台上睡觉"]  # shorter than a trigram
        assert await found("red") == ["[demo:reject] a red car", "a red bicycle by the sea"]
        assert await found("100%_") == []
        page = (await alice.get("/api/records", params={"limit": 2, "offset": 2})).json()
        assert page["total"] == 4 and len(page["items"]) == 2


async def test_deleting_a_record_removes_its_file_when_unused(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        created = (await alice.post("/api/batches", json={"prompt": "to delete"})).json()
        batch = await api.wait_batch(alice, created["batch"]["id"])
        record = (await alice.get("/api/records")).json()["items"][0]
        image = await api.app.images.get(record["image"]["id"])
        path = api.app.settings.blob_dir / image.storage_key
        assert path.exists()
        assert (await alice.delete(f"/api/records/{record['id']}")).status_code == 204
        assert not path.exists()
        assert (await alice.get("/api/records")).json()["total"] == 0
        assert (await alice.get(f"/api/images/{image.id}")).status_code == 404
        assert (await alice.delete(f"/api/records/{record['id']}")).status_code == 404
        # The batch keeps its counts; its download no longer has the file.
        assert (await alice.get(f"/api/batches/{batch['id']}")).json()["succeeded"] == 1


async def test_a_record_whose_output_was_reedited_keeps_its_file(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        created = (await alice.post("/api/batches", json={"prompt": "original"})).json()
        await api.wait_batch(alice, created["batch"]["id"])
        record = (await alice.get("/api/records")).json()["items"][0]
        original = record["image"]["id"]
        edit = await alice.post(f"/api/images/{original}/edit", json={"prompt": "now at night"})
        assert edit.status_code == 201, edit.text
        edited_batch = await api.wait_batch(alice, edit.json()["batch"]["id"])
        assert edited_batch["mode"] == "edit"
        result = (await alice.get(f"/api/batches/{edited_batch['id']}/tasks")).json()["items"][0]
        lineage = (await alice.get(f"/api/images/{result['output_image_id']}/lineage")).json()
        assert [i["id"] for i in lineage] == [result["output_image_id"], original]
        await alice.delete(f"/api/records/{record['id']}")
        # The original is the edit's input: still there, still visible to its owner.
        assert (await alice.get(f"/api/images/{original}/file")).status_code == 200


async def test_assets_library(api: Api) -> None:
    await api.user("alice")
    await api.user("bob")
    async with api.session("alice") as alice, api.session("bob") as bob:
        from tests.api.conftest import png

        files = [
            ("files", ("logo.png", png(), "image/png")),
            ("files", ("x.txt", b"hi", "text/plain")),
        ]
        added = (await alice.post("/api/assets", files=files)).json()
        assert [a["name"] for a in added["added"]] == ["logo.png"]
        assert [s["where"] for s in added["skipped"]] == ["x.txt"]
        asset = added["added"][0]
        assert (await alice.get("/api/assets")).json()[0]["reference"] == f"asset:{asset['id']}"
        assert (await bob.get("/api/assets")).json() == []
        refused = await bob.post(
            "/api/batches", json={"prompt": "p", "reference_images": [asset["reference"]]}
        )
        assert refused.status_code == 422
        used = await alice.post(
            "/api/batches", json={"prompt": "p", "reference_images": [asset["reference"]]}
        )
        assert used.status_code == 201
        assert (await alice.delete(f"/api/assets/{asset['id']}")).status_code == 204
        assert (await alice.get("/api/assets")).json() == []


async def test_presets_and_config(api: Api) -> None:
    await api.user("alice")
    await api.user("root", admin=True)
    async with api.session("alice") as alice, api.session("root") as root:
        presets = (await alice.get("/api/presets")).json()
        assert [p["title"] for p in presets] == [
            "高清增强",
            "艺术风格",
            "写实风格",
            "动漫风格",
            "水彩画风",
        ]
        assert all(len(p["content"]) > 20 for p in presets)
        new = await root.post(
            "/api/admin/presets",
            json={"title": "Night", "content": "the same scene at night", "sort_order": 1},
        )
        assert new.status_code == 201
        hidden = presets[0]["id"]
        await root.put(f"/api/admin/presets/{hidden}", json={"active": False})
        titles = [p["title"] for p in (await alice.get("/api/presets")).json()]
        assert titles[0] == "Night" and "高清增强" not in titles
        assert len((await root.get("/api/admin/presets")).json()) == 6
        assert (await root.delete(f"/api/admin/presets/{new.json()['id']}")).status_code == 204
        with_preset = await alice.post(
            "/api/batches", json={"preset_id": presets[1]["id"], "prompt": "a cat"}
        )
        task_prompt = with_preset.json()["batch"]["name"]
        assert task_prompt.startswith(presets[1]["content"][:20])

        config = (await alice.get("/api/config")).json()
        demo = next(p for p in config["providers"] if p["name"] == "demo")
        assert demo["configured"] and demo["models"][0]["price_per_image"] == 0.5
        assert config["limits"]["max_upload_files"] == 50 and config["credits"] == 99.5
