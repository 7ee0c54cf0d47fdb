"""Reading table files (CSV, XLSX, JSONL) into a header and rows, at a cost that follows
the cells really present and stops at the limits.

A workbook may declare `<dimension ref="A1:XFD1048576"/>`, or hold one real cell at
XFD1048576: readers that build the declared (or the occupied) rectangle pad millions of
empty cells, or abort the process (python-calamine does both: measured 4 s and 1.5 GB
for one cell at XFD3000, a Rust allocation abort at XFD1048576). openpyxl's read-only
mode streams the sheet's XML row by row; with `max_col` it never pads past our column
limit, and we stop at the first row past the row limit.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from imagebatch.domain.specs import MAX_PROMPT_CHARS
from imagebatch.errors import InputError, InputIssue

ACCEPTED = "CSV, XLSX or JSONL"
Row = tuple[int, list[str]]
#: what our writers put before a cell that a spreadsheet would run as a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_JSONL_ISSUES = 50


@dataclass(frozen=True, slots=True)
class SheetLimits:
    """How much of a table is read before it is refused."""

    #: non-blank rows below the header (the admin's max_tasks_per_batch)
    max_rows: int = 10_000
    #: columns a header may have
    max_columns: int = 64
    #: characters one prompt cell may have
    max_prompt_chars: int = MAX_PROMPT_CHARS
    #: bytes an XLSX's parts may unpack to (a zip bomb is refused before it is opened)
    max_unpacked_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawTable:
    header: list[str]
    rows: list[Row]
    #: what a row is called in messages: "row" (spreadsheets) or "line" (JSONL)
    label: str


def read_table(data: bytes, filename: str, limits: SheetLimits) -> RawTable:
    name = filename.lower()
    if data[:4] == b"PK\x03\x04" or name.endswith((".xlsx", ".xlsm")):
        return _limited(_xlsx(data, filename, limits), filename, limits, "row")
    if name.endswith((".jsonl", ".json-lines", ".ndjson")):
        return _jsonl(data, filename, limits)
    if name.endswith((".csv", ".tsv", ".txt")):
        return _limited(_csv(data, filename), filename, limits, "row")
    raise InputError(
        InputIssue(
            filename, "is not a task table", f"use {ACCEPTED}", "not_a_table", {"name": filename}
        )
    )


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def unquoted(text: str) -> str:
    """A cell as the user meant it: the one `'` our exports put before `=`, `+`, `-`, `@`,
    tab or CR (so spreadsheets show it as text) is taken off again on import."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def _limited(rows: Iterable[Row], filename: str, limits: SheetLimits, label: str) -> RawTable:
    """The header (first non-blank row) and the non-blank rows below it, numbered as a
    spreadsheet shows them; refused past the column or row limit, before reading further."""
    filled = (
        (n, [unquoted(c) for c in cells]) for n, cells in rows if any(c.strip() for c in cells)
    )
    header_row = next(filled, None)
    if header_row is None:
        raise InputError(
            InputIssue(
                filename,
                "is empty",
                "add a header row and task rows",
                "empty_table",
                {"name": filename},
            )
        )
    header = [c.strip() for c in header_row[1]]
    _check_width(header, filename, limits)
    body: list[Row] = []
    for row in filled:
        if len(body) == limits.max_rows:
            raise InputError(_too_many_rows(filename, limits, label))
        body.append(row)
    return RawTable(header, body, label)


def _check_width(header: list[str], filename: str, limits: SheetLimits) -> None:
    named = [index for index, name in enumerate(header) if name]
    if named and named[-1] >= limits.max_columns:
        raise InputError(
            InputIssue(
                f"{filename}, header",
                f"has more than {limits.max_columns} columns",
                f"keep the task columns only (at most {limits.max_columns})",
                "too_many_columns",
                {"name": filename, "max": limits.max_columns},
            )
        )


def _too_many_rows(filename: str, limits: SheetLimits, label: str) -> InputIssue:
    return InputIssue(
        filename,
        f"has more than {limits.max_rows:,} task {label}s, the limit for one batch",
        "split it into several tables",
        "too_many_rows",
        {"name": filename, "max": limits.max_rows},
    )


def _xlsx(data: bytes, filename: str, limits: SheetLimits) -> Iterator[Row]:
    from openpyxl import load_workbook  # only XLSX needs it: a 0.1 s import the CLI spares

    try:
        _check_unpacked(data, filename, limits)
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            # the declared dimension is not believed: rows are read as the XML has them
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True, max_col=limits.max_columns + 1)
            for number, values in enumerate(rows, start=1):
                # a gap of a million missing rows comes as empty rows: skipped at C speed
                if values.count(None) != len(values):
                    yield number, [cell_text(v) for v in values]
        finally:
            book.close()
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError) as error:
        raise InputError(
            InputIssue(
                filename,
                f"is not a readable XLSX workbook ({error})",
                "save it again as .xlsx",
                "bad_xlsx",
                {"name": filename},
            )
        ) from None


def _check_unpacked(data: bytes, filename: str, limits: SheetLimits) -> None:
    # zipfile never unpacks more than an entry declares, so the declared sizes bound the work
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(item.file_size for item in archive.infolist())
    if unpacked > limits.max_unpacked_bytes:
        raise InputError(
            InputIssue(
                filename,
                f"unpacks to {unpacked / 2**20:,.0f} MB, more than a task table needs "
                f"(at most {limits.max_unpacked_bytes / 2**20:,.0f} MB)",
                "save only the task sheet, without images or unused formatting",
                "table_unpacked",
                {
                    "name": filename,
                    "size": f"{unpacked / 2**20:,.0f}",
                    "max": f"{limits.max_unpacked_bytes / 2**20:,.0f}",
                },
            )
        )


def _decode(data: bytes, filename: str) -> str:
    if b"\x00" in data[:4096]:
        raise InputError(
            InputIssue(
                filename,
                "is a binary file, not a CSV table",
                f"use {ACCEPTED}",
                "not_a_table",
                {"name": filename},
            )
        )
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(
        InputIssue(
            filename,
            "has an unknown text encoding",
            "save it as UTF-8",
            "unknown_encoding",
            {"name": filename},
        )
    )


def _csv(data: bytes, filename: str) -> Iterator[Row]:
    text = _decode(data, filename)
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    # only the delimiter is guessed: quotes are always `"` (a sniffer that sees our exports'
    # leading `'` may take it for the quote character); a cell longer than csv's field
    # limit (128 KiB) is a csv.Error, not a memory problem
    reader = csv.reader(io.StringIO(text, newline=""), csv.excel, delimiter=delimiter)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as error:
        raise InputError(
            InputIssue(
                filename,
                f"is not valid CSV ({error})",
                "check quotes",
                "bad_csv",
                {"name": filename, "reason": str(error)},
            )
        ) from None


def _jsonl(data: bytes, filename: str, limits: SheetLimits) -> RawTable:
    objects: list[tuple[int, dict[str, Any]]] = []
    issues: list[InputIssue] = []
    for number, line in enumerate(_decode(data, filename).splitlines(), start=1):
        if not line.strip():
            continue
        if len(objects) == limits.max_rows:
            raise InputError(_too_many_rows(filename, limits, "line"))
        value, issue = _json_object(line, number)
        if issue is not None:
            issues.append(issue)
            if len(issues) == _JSONL_ISSUES:
                break  # enough to show what is wrong with the file
        elif value is not None:
            objects.append((number, value))
    if issues:
        raise InputError(issues)
    header = list(dict.fromkeys(key for _, obj in objects for key in obj))
    # checked before the rows are built: rows × keys would be the cost otherwise
    _check_width(header, filename, limits)
    rows = [(n, [cell_text(obj.get(key)) for key in header]) for n, obj in objects]
    return RawTable(header, rows, "line")


def _json_object(line: str, number: int) -> tuple[dict[str, Any] | None, InputIssue | None]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        problem = f"is not JSON ({error.msg})"
        return None, InputIssue(f"line {number}", problem, "one object a line", "line_not_json")
    if not isinstance(value, dict):
        hint = 'e.g. {"prompt": "…"}'
        return None, InputIssue(f"line {number}", "is not a JSON object", hint, "line_not_object")
    return value, None
