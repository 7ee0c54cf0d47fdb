from __future__ import annotations

import io
import json

import pytest
from openpyxl import Workbook, load_workbook

from imagebatch.domain.requests import LocalPath
from imagebatch.domain.sheet_files import template_workbook, write_results
from imagebatch.domain.sheets import parse_table
from imagebatch.domain.specs import AspectRatio, Resolution
from imagebatch.errors import InputError


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def problems(data: bytes, name: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_table(data, name)
    return [str(issue) for issue in caught.value.issues]


def test_english_csv_with_every_column() -> None:
    data = csv_bytes(
        "prompt,negative_prompt,aspect_ratio,resolution,count,filename,reference_images,seed\n"
        'a cat,blurry,16:9,2k,2,cat,"a.png;b.png",7\n'
    )
    first_spec, second_spec = parse_table(data, "t.csv")
    first, second = first_spec.request, second_spec.request
    assert first.prompt == "a cat" and first.negative_prompt == "blurry"
    assert first.aspect_ratio is AspectRatio.R16_9 and first.resolution is Resolution.K2
    assert first.references == (LocalPath("a.png"), LocalPath("b.png")) and first.seed == 7
    assert (first.variant, second.variant, first_spec.source) == (0, 1, "row 2")
    assert second_spec.filename == "cat"


def test_chinese_headers_in_xlsx_with_numbers_as_numbers() -> None:
    data = xlsx(
        [
            ["提示词", "图片比例", "分辨率", "生成数量", "文件名", "参考图", "种子"],
            ["一只猫", "16：9", "4K", 1, "猫", "x.png\ny.png", 42.0],
        ]
    )
    [spec] = parse_table(data, "任务.xlsx")
    request = spec.request
    assert request.aspect_ratio is AspectRatio.R16_9 and request.resolution is Resolution.K4
    assert request.seed == 42 and request.references == (LocalPath("x.png"), LocalPath("y.png"))
    assert spec.filename == "猫"


def test_gb18030_csv_from_chinese_excel() -> None:
    data = csv_bytes("提示词,文件名\n红色的鞋,鞋\n", "gb18030")
    [spec] = parse_table(data, "t.csv")
    assert (spec.request.prompt, spec.filename) == ("红色的鞋", "鞋")


def test_semicolon_csv_and_blank_rows_are_skipped() -> None:
    data = csv_bytes("prompt;count\na;1\n;\n\nb;2\n")
    specs = parse_table(data, "t.csv")
    assert [(s.request.prompt, s.source) for s in specs] == [
        ("a", "row 2"),
        ("b", "row 5"),
        ("b", "row 5"),
    ]


def test_jsonl_rows_are_lines() -> None:
    data = b'{"prompt": "a", "seed": 3}\n\n{"prompt": "b", "aspect_ratio": "1:1"}\n'
    first, second = parse_table(data, "t.jsonl")
    assert (first.request.seed, first.source, second.source) == (3, "line 1", "line 3")


def test_every_problem_is_reported_with_row_and_column() -> None:
    data = csv_bytes(
        "prompt,图片比例,分辨率,count,seed,reference_images,colour\n"
        "ok,7:5,8K,11,-1,a;b;c;d;e,red\n"
        ",1:1,1K,1,,,\n"
    )
    found = problems(data, "t.csv")
    assert any(p.startswith("column colour: is not a known column") for p in found)
    assert any(p.startswith("row 2, column 图片比例: '7:5' is not an aspect ratio") for p in found)
    assert any(p.startswith("row 2, column 分辨率: '8K'") for p in found)
    assert any(p.startswith("row 2, column count: count 11 is out of range") for p in found)
    assert any(p.startswith("row 2, column seed: seed -1") for p in found)
    assert any(p.startswith("row 2, column reference_images: 5 reference images") for p in found)
    assert any(p.startswith("row 3, column prompt: the prompt is empty") for p in found)
    assert len(found) == 7


def test_missing_and_duplicate_columns() -> None:
    assert any("has no prompt column" in p for p in problems(b"filename\nx\n", "t.csv"))
    assert any("appears twice" in p for p in problems("prompt,提示词\na,b\n".encode(), "t.csv"))


def test_cells_beyond_the_header() -> None:
    assert any("row 2: has 1 cell(s) beyond" in p for p in problems(b"prompt\na,b\n", "t.csv"))


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "t.csv", "is empty"),
        (b"prompt\n", "t.csv", "has no task rows"),
        (b"PK\x03\x04garbage", "t.xlsx", "is not a readable XLSX workbook"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "t.csv", "is a binary file"),
        (b"prompt\n", "t.pdf", "is not a task table"),
        (b'{"prompt": "a"}\nnot json\n', "t.jsonl", "line 2: is not JSON"),
        (b"[1, 2]\n", "t.jsonl", "line 1: is not a JSON object"),
    ],
)
def test_broken_files_get_clear_errors(data: bytes, name: str, message: str) -> None:
    assert any(message in p for p in problems(data, name))


@pytest.mark.parametrize("language", ["en", "zh"])
def test_template_parses_cleanly(language: str) -> None:
    data = template_workbook(language)
    specs = parse_table(data, "template.xlsx")
    assert len(specs) == 4  # three rows, one of them with count 2
    book = load_workbook(io.BytesIO(data))
    assert len(book.sheetnames) == 2
    header = [cell.value for cell in book.worksheets[0][1]]
    assert ("提示词" if language == "zh" else "prompt") in header


def test_results_export_round_trips() -> None:
    rows = [{"file": "猫.jpg", "status": "succeeded", "task_id": 3}]
    csv_data = write_results(rows, ["file", "status", "task_id"], "csv")
    assert csv_data.startswith("\ufeff".encode()) and "猫.jpg".encode() in csv_data
    book = load_workbook(io.BytesIO(write_results(rows, ["file", "status", "task_id"], "xlsx")))
    values = [[c.value for c in row] for row in book.worksheets[0].iter_rows()]
    assert values == [["file", "status", "task_id"], ["猫.jpg", "succeeded", 3]]


def test_json_values_in_jsonl_are_read_as_cells() -> None:
    data = (json.dumps({"prompt": "x", "count": 2, "seed": 5}) + "\n").encode()
    assert [s.request.variant for s in parse_table(data, "t.jsonl")] == [0, 1]
