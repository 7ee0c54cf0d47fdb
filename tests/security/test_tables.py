"""Issue 13, tables: a crafted workbook costs what its real cells cost, is parsed off the event
loop and stopped at the time limit; tables past the row or column limit and prompts past
`max_prompt_chars` are refused by row and column."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from imagebatch.cli.inputs import RunArgs, parse_run_input
from imagebatch.config import Settings
from imagebatch.domain.sheet_readers import SheetLimits
from imagebatch.domain.sheets import parse_table
from imagebatch.errors import InputError
from tests.api.conftest import Api
from tests.unit.test_sheets import xlsx

MAX_ROWS = 20
MAX_PROMPT = 100
TIMEOUT = 1.0


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "max_tasks_per_batch": MAX_ROWS,
            "max_prompt_chars": MAX_PROMPT,
            "parse_timeout_seconds": TIMEOUT,
        }
    )


def workbook(cells: dict[str, object] | None = None) -> bytes:
    """A real two-row task table (prompt, seed), plus any far-away cells."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["prompt", "seed"])
    sheet.append(["a cat", 1])
    for ref, value in (cells or {}).items():
        sheet[ref] = value
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rewritten(data: bytes, change: dict[bytes, bytes]) -> bytes:
    """The workbook with its first sheet's XML edited (as an attacker would)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                for pattern, replacement in change.items():
                    content = re.sub(pattern, replacement, content)
            archive.writestr(item, content)
    return out.getvalue()


def declared(ref: str) -> bytes:
    return rewritten(
        workbook(), {rb'<dimension ref="[^"]*"/>': f'<dimension ref="{ref}"/>'.encode()}
    )


def far_rows(count: int) -> bytes:
    """`count` real rows whose only cell is in the last column: a parser must read each one."""
    rows = "".join(f'<row r="{n}"><c r="XFD{n}"><v>1</v></c></row>' for n in range(3, count + 3))
    return rewritten(workbook(), {rb"</sheetData>": rows.encode() + b"</sheetData>"})


@pytest.mark.parametrize(
    "data",
    [
        declared("A1:XFD3000"),
        declared("A1:XFD1048576"),
        workbook({"XFD1048576": "x"}),  # a real cell in the very last place
    ],
    ids=["declared-XFD3000", "declared-XFD1048576", "cell-XFD1048576"],
)
async def test_a_sheet_costs_only_the_cells_it_has(api: Api, data: bytes) -> None:
    await api.user("ann")
    ann = await api.login("ann")
    started = time.monotonic()
    answer = await ann.post("/api/tables/parse", files={"table": ("bomb.xlsx", data)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [{"prompt": "a cat", "seed": "1"}]
    assert time.monotonic() - started < 3  # 9.5 s (and out of memory) before


async def test_health_answers_while_a_slow_table_is_parsed(api: Api) -> None:
    await api.user("ann")
    ann = await api.login("ann")
    anonymous = api.client()
    await anonymous.get("/api/health")  # the connection is open before the clock runs
    slow = far_rows(500_000)  # about 3 s of parsing: more than the limit
    started = time.monotonic()
    parse = asyncio.create_task(ann.post("/api/tables/parse", files={"table": ("slow.xlsx", slow)}))
    waits: list[float] = []
    while not parse.done():
        asked = time.monotonic()
        assert (await anonymous.get("/api/health")).status_code == 200
        waits.append(time.monotonic() - asked)
        await asyncio.sleep(0.05)  # pacing the probes, not waiting for anything
    answer = await parse
    elapsed = time.monotonic() - started
    assert answer.status_code == 422, answer.text
    issue = answer.json()["error"]["issues"][0]
    assert issue["where"] == "slow.xlsx"
    assert f"longer than {TIMEOUT:g} s" in issue["problem"]
    assert elapsed < TIMEOUT + 1.5  # stopped at the limit, not parsed to the end
    assert len(waits) >= 5 and max(waits) < 0.5, waits


@pytest.mark.parametrize("kind", ["csv", "xlsx", "jsonl"])
async def test_more_than_64_columns_are_refused(api: Api, kind: str) -> None:
    await api.user("ann")
    ann = await api.login("ann")
    header = ["prompt", *[f"extra{i}" for i in range(64)]]
    data = {
        "csv": (",".join(header) + "\nx\n").encode(),
        "xlsx": xlsx([header, ["x"]]),
        "jsonl": json.dumps(dict.fromkeys(header, "x")).encode(),
    }[kind]
    answer = await ann.post("/api/tables/parse", files={"table": (f"wide.{kind}", data)})
    assert answer.status_code == 422, answer.text
    issue = answer.json()["error"]["issues"][0]
    assert issue["problem"] == "has more than 64 columns"


async def test_more_rows_than_a_batch_may_have_are_refused(api: Api) -> None:
    await api.user("ann", credits=100)
    ann = await api.login("ann")
    rows = [["prompt"], *[[f"cat {n}"] for n in range(MAX_ROWS + 1)]]
    for path, field in (("/api/tables/parse", "table"), ("/api/batches", "table")):
        answer = await ann.post(path, files={field: ("many.xlsx", xlsx(rows))})
        assert answer.status_code == 422, answer.text
        problem = answer.json()["error"]["issues"][0]["problem"]
        assert problem == f"has more than {MAX_ROWS} task rows, the limit for one batch"
    fits = await ann.post("/api/tables/parse", files={"table": ("ok.xlsx", xlsx(rows[:-1]))})
    assert fits.status_code == 200
    assert len(fits.json()["rows"]) == MAX_ROWS


def test_the_row_limit_stops_reading_at_the_first_row_past_it() -> None:
    lines = "".join(f"cat {n}\n" for n in range(50_000))
    data = f"prompt\n{lines}".encode()
    with pytest.raises(InputError, match="more than 10 task rows"):
        parse_table(data, "t.csv", SheetLimits(max_rows=10))


async def test_a_long_prompt_is_refused_naming_its_row_and_column(api: Api) -> None:
    await api.user("ann", credits=100)
    ann = await api.login("ann")
    long = "x" * (MAX_PROMPT + 1)
    table = f"提示词\nshort\n{long}\n".encode()
    answer = await ann.post("/api/batches", files={"table": ("t.csv", table)})
    assert answer.status_code == 422, answer.text
    issue = answer.json()["error"]["issues"][0]
    assert issue["where"] == "row 3, column 提示词"
    assert issue["problem"] == f"the prompt has 101 characters, at most {MAX_PROMPT} are allowed"
    rows = await ann.post("/api/batches", json={"rows": [{"prompt": "ok"}, {"prompt": long}]})
    assert rows.status_code == 422
    assert rows.json()["error"]["issues"][0]["where"] == "row 2, column prompt"
    template = await ann.post("/api/batches", json={"prompt": long})
    assert template.status_code == 422
    assert template.json()["error"]["issues"][0]["where"] == "prompt"
    # a template within the limit whose values make a prompt too long
    filled = await ann.post(
        "/api/batches",
        json={"prompt": "a {thing}", "variables": {"thing": ["cat", "x" * MAX_PROMPT]}},
    )
    assert filled.status_code == 422
    assert filled.json()["error"]["issues"][0]["where"] == "prompt 2"
    assert (await ann.get("/api/batches")).json()["items"] == []


def test_the_cli_refuses_long_prompts_too(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("prompt\nshort\n" + "x" * 11 + "\n")
    with pytest.raises(InputError) as refused:
        parse_run_input(RunArgs(inputs=[table]), max_tasks=10, max_prompt_chars=10)
    assert refused.value.issues[0].where == "row 3, column prompt"
    with pytest.raises(InputError) as template:
        parse_run_input(RunArgs(inputs=[], prompt="y" * 11), max_tasks=10, max_prompt_chars=10)
    assert template.value.issues[0].where == "prompt"
