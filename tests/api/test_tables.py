"""What the web composer asks of the API, through HTTP: a table file read into rows (with
the core parser's checks), the template, the grid exported and read back, prompt previews,
and a preset applied to table rows."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.api.conftest import Api
from tests.unit.test_sheets import xlsx


async def test_a_table_becomes_rows_with_english_keys(api: Api) -> None:
    await api.user("ann")
    ann = await api.login("ann")
    data = xlsx(
        [
            ["提示词", "图片比例", "生成数量", "参考图"],
            ["红色鞋", "16：9", 2, "a.png; b.png"],
            [],
            ["mug", None, None, None],
        ]
    )
    answer = await ann.post("/api/tables/parse", files={"table": ("t.xlsx", data)})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "rows": [
            {
                "prompt": "红色鞋",
                "aspect_ratio": "16：9",
                "count": "2",
                "reference_images": "a.png; b.png",
            },
            {"prompt": "mug"},
        ],
        "columns": ["prompt", "aspect_ratio", "count", "reference_images"],
        "issues": [],
    }


async def test_a_bad_table_is_refused_with_every_problem(api: Api) -> None:
    await api.user("ann")
    ann = await api.login("ann")
    csv = b"prompt,aspect_ratio,colour\nfine,7:5,red\n,1:1,\n"
    answer = await ann.post("/api/tables/parse", files={"table": ("t.csv", csv)})
    assert answer.status_code == 422
    where = [issue["where"] for issue in answer.json()["error"]["issues"]]
    assert where == ["column colour", "row 2, column aspect_ratio", "row 3, column prompt"]
    missing = await ann.post("/api/tables/parse", files={"other": ("t.csv", b"prompt\nx\n")})
    assert missing.status_code == 422
    without_csrf = api.client(cookies=ann.cookies)
    refused = await without_csrf.post(
        "/api/tables/parse", files={"table": ("t.csv", b"prompt\nx\n")}
    )
    assert refused.status_code == 403


async def test_template_and_export_round_trip(api: Api) -> None:
    await api.user("ann")
    ann = await api.login("ann")
    template = await ann.get("/api/tables/template", params={"lang": "zh"})
    assert template.status_code == 200
    assert "attachment" in template.headers["content-disposition"]
    header = next(load_workbook(io.BytesIO(template.content)).worksheets[0].values)
    assert header[0] == "提示词"
    rows = [
        {"prompt": "a", "count": 2, "reference_images": ["asset:1", "https://x.test/r.png"]},
        {"prompt": "b", "seed": 7},
    ]
    exported = await ann.post("/api/tables/export", json={"rows": rows})
    assert exported.status_code == 200
    parsed = await ann.post("/api/tables/parse", files={"table": ("grid.xlsx", exported.content)})
    assert parsed.json()["rows"] == [
        {"prompt": "a", "count": "2", "reference_images": "asset:1\nhttps://x.test/r.png"},
        {"prompt": "b", "seed": "7"},
    ]
    assert (await ann.get("/api/tables/template", params={"lang": "fr"})).status_code == 422


async def test_prompt_preview(api: Api) -> None:
    await api.user("ann")
    ann = await api.login("ann")
    body = {
        "prompt": "a {animal} in {snow|rain}",
        "variables": {"animal": ["cat", "dog"]},
        "count": 3,
    }
    answer = (await ann.post("/api/prompts/preview", json=body)).json()
    assert answer == {
        "variables": ["animal"],
        "prompts": ["a cat in snow", "a cat in rain", "a dog in snow", "a dog in rain"],
        "total": 4,
        "tasks": 12,
        "issues": [],
    }
    waiting = (
        await ann.post(
            "/api/prompts/preview", json={"prompt": "{a} and {b}", "variables": {"a": ["x"]}}
        )
    ).json()
    assert waiting["variables"] == ["a", "b"] and waiting["prompts"] == []
    broken = (await ann.post("/api/prompts/preview", json={"prompt": "a {cat"})).json()
    assert broken["issues"][0]["problem"] == "unbalanced { }"
    huge = {
        "prompt": "{a}{b}",
        "variables": {"a": [str(n) for n in range(200)], "b": [str(n) for n in range(60)]},
    }
    too_many = (await ann.post("/api/prompts/preview", json=huge)).json()
    assert "the limit is 10,000" in too_many["issues"][0]["problem"]


async def test_a_preset_goes_before_every_row(api: Api) -> None:
    await api.user("root", admin=True)
    root = await api.login("root")
    preset = (
        await root.post("/api/admin/presets", json={"title": "t", "content": "studio light"})
    ).json()
    body = {"rows": [{"prompt": "a shoe"}, {"prompt": "a mug"}], "preset_id": preset["id"]}
    created = await root.post("/api/batches", json=body)
    assert created.status_code == 201, created.text
    tasks = (await root.get(f"/api/batches/{created.json()['batch']['id']}/tasks")).json()["items"]
    assert [t["prompt"] for t in tasks] == ["studio light\na shoe", "studio light\na mug"]
    preview = {"prompt": "x", "preset_id": preset["id"]}
    assert (await root.post("/api/prompts/preview", json=preview)).json()["prompts"] == [
        "studio light\nx"
    ]
