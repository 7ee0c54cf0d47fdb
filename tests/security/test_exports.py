"""Issue 13, exports: a prompt that a spreadsheet would run as a formula reaches every CSV we
write with a leading `'`, every XLSX as text, and comes back unchanged when imported again."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from openpyxl import load_workbook

from imagebatch.cli.exports import export_batch
from imagebatch.domain.sheet_files import template_workbook, write_results
from imagebatch.domain.sheets import parse_table
from tests.api.conftest import Api

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "plain cat",
    "'quoted by the user",
]
#: as a CSV cell: formula-like text gets one leading `'`, the rest is left alone
IN_CSV = [f"'{p}" if p[0] in "=+-@" else p for p in HOSTILE]
#: a tab or CR before a formula hides it from a quick look (prompts in tasks are stripped)
HIDDEN = ["\t=1+1", "\r=1+1"]


async def _batch(api: Api) -> tuple[int, list[str]]:
    await api.user("ann", credits=100)
    ann = await api.login("ann")
    rows = [{"prompt": prompt} for prompt in HOSTILE]
    created = await ann.post("/api/batches", json={"rows": rows})
    assert created.status_code == 201, created.text
    batch = await api.wait_batch(ann, created.json()["batch"]["id"])
    archive = await ann.get(f"/api/batches/{batch['id']}/download")
    assert archive.status_code == 200
    manifest = zipfile.ZipFile(io.BytesIO(archive.content)).read("manifest.csv")
    prompts = [r["prompt"] for r in csv.DictReader(io.StringIO(manifest.decode("utf-8-sig")))]
    return batch["id"], prompts


async def test_zip_manifest_and_cli_export_write_prompts_as_text(api: Api, tmp_path: Path) -> None:
    batch_id, manifest_prompts = await _batch(api)
    assert manifest_prompts == IN_CSV
    await export_batch(api.app, batch_id, tmp_path / "out.csv")
    exported = (tmp_path / "out.csv").read_text("utf-8-sig")
    assert [r["prompt"] for r in csv.DictReader(io.StringIO(exported))] == IN_CSV
    await export_batch(api.app, batch_id, tmp_path / "out.xlsx")
    sheet = load_workbook(tmp_path / "out.xlsx").worksheets[0]
    column = [cell.value for cell in sheet[1]].index("prompt") + 1
    cells = [sheet.cell(row, column) for row in range(2, len(HOSTILE) + 2)]
    assert [cell.value for cell in cells] == HOSTILE
    assert {cell.data_type for cell in cells} == {"s"}  # never "f" (formula)


async def test_table_export_is_text_and_imports_back_unchanged(api: Api) -> None:
    await api.user("ann")
    ann = await api.login("ann")
    rows = [{"prompt": prompt, "filename": "=cmd"} for prompt in HOSTILE]
    answer = await ann.post("/api/tables/export", json={"rows": rows})
    assert answer.status_code == 200, answer.text
    sheet = load_workbook(io.BytesIO(answer.content)).worksheets[0]
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row if cell.value is not None]
    assert len(cells) == 2 * len(HOSTILE)
    assert {cell.data_type for cell in cells} == {"s"}  # never "f" (formula)
    assert [row[0].value for row in sheet.iter_rows(min_row=2)] == HOSTILE
    back = await ann.post("/api/tables/parse", files={"table": ("t.xlsx", answer.content)})
    assert back.status_code == 200, back.text
    assert [row["prompt"] for row in back.json()["rows"]] == HOSTILE


def test_csv_export_neutralises_formulas_and_imports_back_unchanged() -> None:
    prompts = [*HOSTILE, *HIDDEN]
    data = write_results([{"prompt": p} for p in prompts], ["prompt"], "csv")
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    assert [r["prompt"] for r in reader] == [*IN_CSV, *(f"'{p}" for p in HIDDEN)]
    # imported again (as a user who edits the export would): the `'` we added goes
    back = [spec.request.prompt for spec in parse_table(data, "back.csv")]
    assert back == [p.strip() for p in prompts]


def test_the_template_has_no_formulas() -> None:
    for language in ("en", "zh"):
        book = load_workbook(io.BytesIO(template_workbook(language)))
        types = {cell.data_type for sheet in book for row in sheet.iter_rows() for cell in row}
        assert "f" not in types
