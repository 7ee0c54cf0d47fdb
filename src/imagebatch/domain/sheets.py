"""Task tables (CSV, XLSX, JSONL) to TaskSpecs; every problem reported at once, by row and column.

Row numbers are the ones a spreadsheet shows: the header is row 1. In JSONL they are line
numbers. A CSV record whose quoted cell spans several lines still counts as one row.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import load_workbook

from imagebatch.domain.sheet_columns import COLUMNS, BadValue, Column, column_for
from imagebatch.domain.specs import TaskSpec
from imagebatch.errors import InputError, InputIssue

ACCEPTED = "CSV, XLSX or JSONL"
Row = tuple[int, list[str]]


def parse_table(data: bytes, filename: str) -> list[TaskSpec]:
    header, rows, label = _read(data, filename)
    return _parse(header, rows, label, filename)


def parse_records(records: Sequence[Mapping[str, Any]], name: str = "rows") -> list[TaskSpec]:
    """Rows given as objects (the API's JSON, the web grid), numbered from 1 as the grid shows.
    A list value (reference images) is one cell with one item per line."""
    header = list(dict.fromkeys(str(key) for record in records for key in record))
    rows = [
        (number, [_cell(_joined(record.get(key))) for key in header])
        for number, record in enumerate(records, start=1)
    ]
    return _parse(header, rows, "row", name)


def table_rows(data: bytes, filename: str) -> list[dict[str, str]]:
    """A table's non-blank rows as cells keyed by the English column name (for the web
    grid), after the same checks `parse_table` makes: a table it refuses is refused here."""
    header, rows, label = _read(data, filename)
    _parse(header, rows, label, filename)
    columns = [column_for(name) if name else None for name in header]
    return [
        {
            column.key: cell.strip() if column.key != "prompt" else cell
            for column, cell in zip(columns, _padded(cells, len(header)), strict=True)
            if column is not None and cell.strip()
        }
        for _, cells in rows
        if any(cell.strip() for cell in cells)
    ]


def _joined(value: Any) -> Any:
    return "\n".join(str(item) for item in value) if isinstance(value, list | tuple) else value


def _parse(header: list[str], rows: list[Row], label: str, filename: str) -> list[TaskSpec]:
    columns, issues = _columns(header)
    specs: list[TaskSpec] = []
    for number, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue  # blank rows are skipped
        values, row_issues = _values(number, label, header, columns, cells)
        issues += row_issues
        if not row_issues:
            specs += _expand(values, f"{label} {number}")
    if issues:
        raise InputError(issues, f"{len(issues)} problem(s) in {filename}; nothing was enqueued")
    if not specs:
        raise InputError(InputIssue(filename, "has no task rows", "add rows below the header"))
    return specs


def _read(data: bytes, filename: str) -> tuple[list[str], list[Row], str]:
    name = filename.lower()
    if data[:4] == b"PK\x03\x04" or name.endswith((".xlsx", ".xlsm")):
        return (*_xlsx(data, filename), "row")
    if name.endswith((".jsonl", ".json-lines", ".ndjson")):
        return (*_jsonl(data, filename), "line")
    if name.endswith((".csv", ".tsv", ".txt")):
        return (*_csv(data, filename), "row")
    raise InputError(InputIssue(filename, "is not a task table", f"use {ACCEPTED}"))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _xlsx(data: bytes, filename: str) -> tuple[list[str], list[Row]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = [(n, [_cell(v) for v in values]) for n, values in enumerate(sheet.values, start=1)]
        book.close()
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError) as error:
        raise InputError(
            InputIssue(
                filename, f"is not a readable XLSX workbook ({error})", "save it again as .xlsx"
            )
        ) from None
    return _split_header(rows, filename)


def _split_header(rows: list[Row], filename: str) -> tuple[list[str], list[Row]]:
    for index, (_, cells) in enumerate(rows):
        if any(cell.strip() for cell in cells):
            return [c.strip() for c in cells], rows[index + 1 :]
    raise InputError(InputIssue(filename, "is empty", "add a header row and task rows"))


def _decode(data: bytes, filename: str) -> str:
    if b"\x00" in data[:4096]:
        raise InputError(
            InputIssue(filename, "is a binary file, not a CSV table", f"use {ACCEPTED}")
        )
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(InputIssue(filename, "has an unknown text encoding", "save it as UTF-8"))


def _csv(data: bytes, filename: str) -> tuple[list[str], list[Row]]:
    text = _decode(data, filename)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        rows = [(n, cells) for n, cells in enumerate(reader, start=1)]
    except csv.Error as error:
        raise InputError(
            InputIssue(filename, f"is not valid CSV ({error})", "check quotes")
        ) from None
    return _split_header(rows, filename)


def _jsonl(data: bytes, filename: str) -> tuple[list[str], list[Row]]:
    objects: list[tuple[int, dict[str, Any]]] = []
    issues: list[InputIssue] = []
    for number, line in enumerate(_decode(data, filename).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            issues.append(
                InputIssue(f"line {number}", f"is not JSON ({error.msg})", "one object a line")
            )
            continue
        if not isinstance(value, dict):
            issues.append(
                InputIssue(f"line {number}", "is not a JSON object", 'e.g. {"prompt": "…"}')
            )
            continue
        objects.append((number, value))
    if issues:
        raise InputError(issues)
    header = list(dict.fromkeys(key for _, obj in objects for key in obj))
    rows = [(n, [_cell(obj.get(key)) for key in header]) for n, obj in objects]
    return header, rows


def _columns(header: Sequence[str]) -> tuple[list[Column | None], list[InputIssue]]:
    columns = [column_for(name) if name else None for name in header]
    issues: list[InputIssue] = []
    known = ", ".join(f"{c.english}/{c.chinese}" for c in COLUMNS)
    seen: set[str] = set()
    for name, column in zip(header, columns, strict=True):
        if name and column is None:
            issues.append(InputIssue(f"column {name}", "is not a known column", f"use: {known}"))
        elif column is not None and column.key in seen:
            issues.append(InputIssue(f"column {name}", "appears twice", "keep one of them"))
        elif column is not None:
            seen.add(column.key)
    if "prompt" not in seen:
        issues.append(InputIssue("header", "has no prompt column", "add a column prompt or 提示词"))
    return columns, issues


def _values(
    number: int,
    label: str,
    header: Sequence[str],
    columns: Sequence[Column | None],
    cells: list[str],
) -> tuple[dict[str, Any], list[InputIssue]]:
    values: dict[str, Any] = {}
    issues: list[InputIssue] = []
    for name, column, cell in zip(header, columns, _padded(cells, len(header)), strict=True):
        if column is None or not cell.strip():
            continue
        try:
            values[column.key] = column.parse(cell.strip() if column.key != "prompt" else cell)
        except BadValue as error:
            issues.append(InputIssue(f"{label} {number}, column {name}", str(error)))
    if not str(values.get("prompt", "")).strip():
        where = f"{label} {number}, column {_header_of(header, columns, 'prompt')}"
        issues.append(InputIssue(where, "the prompt is empty", "every row needs a prompt"))
    extra = [cell for cell in cells[len(header) :] if cell.strip()]
    if extra:
        issues.append(
            InputIssue(
                f"{label} {number}",
                f"has {len(extra)} cell(s) beyond the header",
                "add a header for them or remove them",
            )
        )
    return values, issues


def _padded(cells: list[str], width: int) -> Iterator[str]:
    yield from cells[:width]
    yield from [""] * (width - len(cells))


def _header_of(header: Sequence[str], columns: Sequence[Column | None], key: str) -> str:
    for name, column in zip(header, columns, strict=True):
        if column is not None and column.key == key:
            return name
    return key


def _expand(values: dict[str, Any], source: str) -> list[TaskSpec]:
    count = values.pop("count", 1)
    return [
        TaskSpec(
            prompt=values["prompt"].strip(),
            negative_prompt=values.get("negative_prompt"),
            aspect_ratio=values.get("aspect_ratio"),
            resolution=values.get("resolution"),
            seed=values.get("seed"),
            filename=values.get("filename"),
            reference_images=values.get("reference_images", ()),
            provider=values.get("provider"),
            model=values.get("model"),
            source=source,
            variant=variant,
        )
        for variant in range(count)
    ]
