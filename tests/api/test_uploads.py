"""Multipart uploads: images to edit, tables with reference files, and every limit."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image

from tests.api.conftest import Api, png


def bomb() -> bytes:
    """A tiny PNG that would decode to 64 megapixels (over the 50 MP limit)."""
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_images_with_one_prompt_become_edit_tasks(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        files = [
            ("images", (f"shot{i}.png", png(color=c), "image/png"))
            for i, c in enumerate(("red", "green", "blue"))
        ]
        answer = await alice.post(
            "/api/batches", data={"prompt": "make it watercolour", "count": "2"}, files=files
        )
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert created["batch"]["mode"] == "edit" and created["tasks"] == 6
        batch = await api.wait_batch(alice, created["batch"]["id"])
        assert batch["succeeded"] == 6
        tasks = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"]
        assert [t["output_filename"] for t in tasks[:2]] == ["shot0_edit_1", "shot0_edit_2"]
        output = (await alice.get(f"/api/images/{tasks[0]['output_image_id']}")).json()
        assert output["parent_image_id"] == tasks[0]["input_image_id"]


async def test_bad_files_are_reported_and_the_rest_goes_ahead(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        files = [
            ("images", ("good.png", png(), "image/png")),
            ("images", ("notes.png", b"just some text, not a picture\n", "image/png")),
            ("images", ("bomb.png", bomb(), "image/png")),
            ("images", ("huge.png", b"\x89PNG" + b"\0" * (11 * 1024 * 1024), "image/png")),
        ]
        answer = await alice.post("/api/batches", data={"prompt": "p"}, files=files)
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert created["tasks"] == 1
        skipped = {s["where"]: s["problem"] for s in created["skipped"]}
        assert set(skipped) == {"notes.png", "bomb.png", "huge.png"}
        assert "text" in skipped["notes.png"]
        assert "megapixels" in skipped["bomb.png"] or "pixels" in skipped["bomb.png"]
        assert skipped["huge.png"] == "is 11 MB, over the 10 MB limit"


async def test_only_unusable_files_is_an_error_and_creates_nothing(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        files = [("images", ("a.png", b"text", "image/png"))]
        answer = await alice.post("/api/batches", data={"prompt": "p"}, files=files)
        assert answer.status_code == 422
        assert answer.json()["error"]["issues"][0]["where"] == "a.png"
        assert (await alice.get("/api/batches")).json()["items"] == []


async def test_more_than_fifty_files_answer_413(api: Api) -> None:
    await api.user("alice")
    image = png(8, 8)
    async with api.session("alice") as alice:
        files = [("images", (f"{i}.png", image, "image/png")) for i in range(51)]
        answer = await alice.post("/api/batches", data={"prompt": "p"}, files=files)
        assert answer.status_code == 413
        assert "50" in answer.json()["error"]["message"]
        fifty = await alice.post("/api/batches", data={"prompt": "p"}, files=files[:50])
        assert fifty.status_code == 201


async def test_a_body_larger_than_the_limits_is_cut_off(api: Api) -> None:
    await api.user("alice")
    await api.user("root", admin=True)
    async with api.session("root") as root:
        await root.put(
            "/api/admin/settings", json={"max_upload_files": 2, "max_image_bytes": 100_000}
        )
    async with api.session("alice") as alice:
        files = [("images", (f"{i}.png", b"\0" * 900_000, "image/png")) for i in range(3)]
        answer = await alice.post("/api/batches", data={"prompt": "p"}, files=files)
        assert answer.status_code == 413


async def test_path_traversal_in_a_file_name_stays_a_name(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        files = [
            ("images", ("../../../../tmp/evil.png", png(), "image/png")),
            ("images", ("..\\..\\windows\\evil2.png", png(color="blue"), "image/png")),
        ]
        answer = await alice.post("/api/batches", data={"prompt": "p"}, files=files)
        assert answer.status_code == 201, answer.text
        batch = await api.wait_batch(alice, answer.json()["batch"]["id"])
        tasks = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"]
        # Folders in a name are kept as part of the name, never as a path.
        assert [t["output_filename"] for t in tasks] == ["tmp_evil_edit", "windows_evil2_edit"]
        archive = await alice.get(f"/api/batches/{batch['id']}/download")
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        stems = sorted(n.rsplit(".", 1)[0] for n in names)
        assert stems == ["manifest", "tmp_evil_edit", "windows_evil2_edit"]
    assert not Path("/tmp/evil.png").exists()


async def test_table_upload_with_reference_files_and_assets(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        added = await alice.post(
            "/api/assets", files=[("files", ("logo.png", png(color="yellow"), "image/png"))]
        )
        assert added.status_code == 201, added.text
        asset = added.json()["added"][0]
        table = (
            "prompt,reference_images,filename\n"
            f"with the logo,{asset['reference']},a\n"
            "with the upload,ref.png,b\n"
        ).encode()
        files = [
            ("table", ("shots.csv", table, "text/csv")),
            ("references", ("ref.png", png(color="purple"), "image/png")),
        ]
        answer = await alice.post("/api/batches", files=files)
        assert answer.status_code == 201, answer.text
        batch = await api.wait_batch(alice, answer.json()["batch"]["id"])
        tasks = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"]
        assert tasks[0]["reference_image_ids"] == [asset["image"]["id"]]
        assert len(tasks[1]["reference_image_ids"]) == 1
        # The references are visible to their owner (the lightbox shows them).
        ref = tasks[1]["reference_image_ids"][0]
        assert (await alice.get(f"/api/images/{ref}/thumbnail")).status_code == 200


async def test_a_table_naming_a_missing_reference_creates_nothing(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        table = b"prompt,reference_images\nx,/etc/passwd\ny,asset:999\n"
        answer = await alice.post("/api/batches", files=[("table", ("t.csv", table, "text/csv"))])
        assert answer.status_code == 422
        problems = [i["problem"] for i in answer.json()["error"]["issues"]]
        assert any("/etc/passwd" in p for p in problems)
        assert (await alice.get("/api/batches")).json()["items"] == []


async def test_a_broken_spreadsheet_is_a_clear_error(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        broken = b"PK\x03\x04 this is not really a workbook"
        answer = await alice.post(
            "/api/batches", files=[("table", ("t.xlsx", broken, "application/octet-stream"))]
        )
        assert answer.status_code == 422
        assert answer.json()["error"]["issues"][0]["where"] == "t.xlsx"


async def test_same_named_files_from_different_folders_stay_apart(api: Api) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        files = [
            ("images", ("shoes/red.png", png(color="red"), "image/png")),
            ("images", ("bags/red.png", png(color="blue"), "image/png")),
        ]
        answer = await alice.post("/api/batches", data={"prompt": "p"}, files=files)
        assert answer.status_code == 201, answer.text
        batch_id = answer.json()["batch"]["id"]
        tasks = (await alice.get(f"/api/batches/{batch_id}/tasks")).json()["items"]
        assert [t["output_filename"] for t in tasks] == ["shoes_red_edit", "bags_red_edit"]
        assert tasks[0]["input_image_id"] != tasks[1]["input_image_id"]
