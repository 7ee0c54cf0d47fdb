"""Writing tables: the example template, and results exported back to CSV or XLSX.

Every cell a user wrote goes through `csv_safe` / `xlsx_cell`: a prompt such as
`=HYPERLINK("http://x","y")` must reach a spreadsheet as text, never as a formula
(CSV injection). Reading a table back takes our `'` off again (`sheet_readers.unquoted`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from imagebatch.domain.sheet_columns import COLUMNS, Column
from imagebatch.domain.sheet_readers import FORMULA_STARTS

# openpyxl (0.1 s to import) is imported by the functions that write XLSX: the manifest's
# CSV, which every CLI run writes, does not need it.
if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

EXAMPLES = [
    [
        "Studio photo of a red sneaker on white, soft shadow",
        "blurry, text",
        "1:1",
        "1K",
        2,
        "sneaker-red",
        "",
        42,
        "",
        "",
    ],
    ["极简风格的白色陶瓷杯，木质桌面，自然光", "文字", "4:3", "2K", 1, "杯子", "", "", "", ""],
    [
        "Banner: the sneaker on a forest trail at dawn",
        "",
        "21:9",
        "1K",
        1,
        "banner",
        "",
        "",
        "",
        "",
    ],
]


#: the reference column's note for a table imported on the web page, where a cell cannot
#: name a file: the page picks library images per row (paths are for the CLI's tables)
WEB_REFERENCES_HELP = (
    "0–4 image URLs (http or https), separated by ; or new lines. Or leave it empty and, after "
    "importing, pick each row's reference images from your library (upload them there first).",
    "0–4 个图片网址（http 或 https），用 ; 或换行分隔。也可以留空：导入后在表格中为每行"
    "从图库选择参考图（可先上传到图库）。",
)


def _help(column: Column, chinese: bool, local_files: bool) -> str:
    if column.key == "reference_images" and not local_files:
        return WEB_REFERENCES_HELP[1 if chinese else 0]
    return column.help_zh if chinese else column.help_en


def template_workbook(language: str = "en", *, local_files: bool = False) -> bytes:
    """An example task table with every column, and a sheet explaining them. `local_files`:
    the table is read beside its files (the CLI), so reference images may be paths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    chinese = language.lower().startswith("zh")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "任务" if chinese else "tasks"
    sheet.append([c.chinese if chinese else c.english for c in COLUMNS])
    for row in EXAMPLES:
        _append_text(sheet, row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDEFGHIJ", (50, 20, 12, 10, 10, 16, 30, 10, 12, 16), strict=True):
        sheet.column_dimensions[letter].width = width
    notes = book.create_sheet("说明" if chinese else "help")
    notes.append(["列" if chinese else "column", "说明" if chinese else "meaning"])
    for column in COLUMNS:
        notes.append([f"{column.english} / {column.chinese}", _help(column, chinese, local_files)])
    notes.column_dimensions["A"].width = 32
    notes.column_dimensions["B"].width = 80
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_results(rows: Sequence[Mapping[str, object]], columns: Sequence[str], fmt: str) -> bytes:
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(csv_safe_rows(rows))
        return ("\ufeff" + text.getvalue()).encode()  # BOM: Excel shows Chinese correctly
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("results")
    sheet.append([xlsx_cell(sheet, c) for c in columns])
    for row in rows:
        sheet.append([xlsx_cell(sheet, row.get(c)) for c in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def is_formula_like(value: object) -> bool:
    """Text a spreadsheet would run (=, +, -, @) or that hides a formula (tab, CR)."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_safe(value: object) -> object:
    """The cell for a CSV file: formula-like text gets the usual leading `'`."""
    return f"'{value}" if is_formula_like(value) else value


def csv_safe_rows(rows: Iterable[Mapping[str, object]]) -> Iterator[dict[str, object]]:
    for row in rows:
        yield {key: csv_safe(value) for key, value in row.items()}


def xlsx_cell(sheet: Worksheet, value: object) -> object:
    """The cell for a write-only sheet: text stays text (openpyxl would store a string that
    begins with `=` as a formula); numbers stay numbers."""
    if value is None or isinstance(value, int | float):
        return value
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, str(value))
    cell.data_type = "s"
    return cell


def _append_text(sheet: Worksheet, row: Sequence[object]) -> None:
    sheet.append(list(row))
    for cell in sheet[sheet.max_row]:
        if is_formula_like(cell.value):
            cell.data_type = "s"
