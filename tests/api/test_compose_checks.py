"""What the composer's defects needed from the API: an edit batch is named by the files it
edits (not the ones it refused), and a table with bad rows can be read whole, its rows
beside their problems, so one bad row does not cost the others."""

from __future__ import annotations

from tests.api.conftest import Api, png

NOT_AN_IMAGE = b"just some text, not a picture\n"


async def test_an_edit_batch_is_named_by_the_files_it_accepts(api: Api) -> None:
    await api.user("ann")
    async with api.session("ann") as ann:
        files = [
            ("images", ("a.png", png(color="red"), "image/png")),
            ("images", ("b.png", png(color="blue"), "image/png")),
            ("images", ("fake.png", NOT_AN_IMAGE, "image/png")),
        ]
        dry = await ann.post("/api/batches?dry_run=1", data={"prompt": "p"}, files=files)
        assert dry.status_code == 201, dry.text
        assert dry.json()["tasks"] == 2
        assert [s["where"] for s in dry.json()["skipped"]] == ["fake.png"]
        made = await ann.post("/api/batches", data={"prompt": "p"}, files=files)
        assert made.status_code == 201, made.text
        assert made.json()["batch"]["name"] == "2 images"
        one = await ann.post("/api/batches", data={"prompt": "p"}, files=files[1:])
        assert one.json()["batch"]["name"] == "b.png"


async def test_partial_parse_returns_every_row_and_the_bad_ones_issues(api: Api) -> None:
    await api.user("ann")
    ann = await api.login("ann")
    csv = b"prompt,count\nfine,2\ntoo many,20\nalso fine,1\n"
    strict = await ann.post("/api/tables/parse", files={"table": ("t.csv", csv)})
    assert strict.status_code == 422
    partial = await ann.post("/api/tables/parse?partial=1", files={"table": ("t.csv", csv)})
    assert partial.status_code == 200, partial.text
    body = partial.json()
    assert [row["prompt"] for row in body["rows"]] == ["fine", "too many", "also fine"]
    assert [issue["where"] for issue in body["issues"]] == ["row 3, column count"]
    assert "out of range" in body["issues"][0]["problem"]


async def test_partial_parse_still_refuses_a_bad_table(api: Api) -> None:
    await api.user("ann")
    ann = await api.login("ann")
    csv = b"prompt,colour\nfine,red\n"
    answer = await ann.post("/api/tables/parse?partial=1", files={"table": ("t.csv", csv)})
    assert answer.status_code == 422
    assert answer.json()["error"]["issues"][0]["where"] == "column colour"
