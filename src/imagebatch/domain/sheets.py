"""Task tables (CSV, XLSX, JSONL) to TaskSpecs; every problem reported at once, by row and column.

Row numbers are the ones a spreadsheet shows: the header is row 1. In JSONL they are line
numbers. A CSV record whose quoted cell spans several lines still counts as one row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from imagebatch.domain.requests import ImageRequest, image_ref
from imagebatch.domain.sheet_columns import COLUMNS, BadValue, Column, column_for
from imagebatch.domain.sheet_readers import Row, SheetLimits, cell_text, read_table
from imagebatch.domain.specs import TaskSpec, prompt_issue
from imagebatch.errors import InputError, InputIssue

#: problems listed for one table; past them the file is plainly not a task table
MAX_ISSUES = 100


def parse_table(data: bytes, filename: str, limits: SheetLimits | None = None) -> list[TaskSpec]:
    limits = limits or SheetLimits()
    table = read_table(data, filename, limits)
    return _parse(table.header, table.rows, table.label, filename, limits)


def parse_records(
    records: Sequence[Mapping[str, Any]], name: str = "rows", limits: SheetLimits | None = None
) -> list[TaskSpec]:
    """Rows given as objects (the API's JSON, the web grid), numbered from 1 as the grid shows.
    A list value (reference images) is one cell with one item per line."""
    limits = limits or SheetLimits()
    header = list(dict.fromkeys(str(key) for record in records for key in record))
    rows = [
        (number, [cell_text(_joined(record.get(key))) for key in header])
        for number, record in enumerate(records, start=1)
    ]
    return _parse(header, rows, "row", name, limits)


def table_rows(
    data: bytes, filename: str, limits: SheetLimits | None = None
) -> list[dict[str, str]]:
    """A table's non-blank rows as cells keyed by the English column name (for the web
    grid), after the same checks `parse_table` makes: a table it refuses is refused here."""
    rows, issues = table_rows_and_issues(data, filename, limits)
    if issues:
        raise InputError(issues, f"{len(issues)} problem(s) in {filename}; nothing was enqueued")
    return rows


def table_rows_and_issues(
    data: bytes, filename: str, limits: SheetLimits | None = None
) -> tuple[list[dict[str, str]], list[InputIssue]]:
    """`table_rows` for a grid that marks its bad cells: every row comes back, with the
    problems of single rows beside them. A problem of the whole table (a column, the
    header, its size) still raises: its rows would not mean what they say."""
    limits = limits or SheetLimits()
    table = read_table(data, filename, limits)
    try:
        _parse(table.header, table.rows, table.label, filename, limits)
        issues: list[InputIssue] = []
    except InputError as error:
        if not all(issue.where.startswith(f"{table.label} ") for issue in error.issues):
            raise
        issues = list(error.issues)
    return _cells(table.header, table.rows), issues


def _cells(header: list[str], rows: list[Row]) -> list[dict[str, str]]:
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


def _parse(
    header: list[str], rows: list[Row], label: str, filename: str, limits: SheetLimits
) -> list[TaskSpec]:
    columns, issues = _columns(header)
    specs: list[TaskSpec] = []
    for number, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue  # blank rows are skipped
        values, row_issues = _values(number, label, header, columns, cells)
        row_issues += _prompt_length(values, f"{label} {number}", header, columns, limits)
        issues += row_issues
        if not row_issues:
            specs += _expand(values, f"{label} {number}")
        if len(issues) >= MAX_ISSUES:
            break  # the first hundred say what is wrong; the rest would only be noise
    if issues:
        raise InputError(issues, f"{len(issues)} problem(s) in {filename}; nothing was enqueued")
    if not specs:
        raise InputError(
            InputIssue(
                filename,
                "has no task rows",
                "add rows below the header",
                "no_task_rows",
                {"name": filename},
            )
        )
    return specs


def _prompt_length(
    values: Mapping[str, Any],
    where: str,
    header: Sequence[str],
    columns: Sequence[Column | None],
    limits: SheetLimits,
) -> list[InputIssue]:
    issues: list[InputIssue] = []
    for key in ("prompt", "negative_prompt"):
        text = values.get(key)
        column = f"{where}, column {_header_of(header, columns, key)}"
        issue = prompt_issue(text, column, limits.max_prompt_chars) if text else None
        issues += [issue] if issue else []
    return issues


def _columns(header: Sequence[str]) -> tuple[list[Column | None], list[InputIssue]]:
    columns = [column_for(name) if name else None for name in header]
    issues: list[InputIssue] = []
    known = ", ".join(f"{c.english}/{c.chinese}" for c in COLUMNS)
    seen: set[str] = set()
    for name, column in zip(header, columns, strict=True):
        if name and column is None:
            issues.append(
                InputIssue(
                    f"column {name}",
                    "is not a known column",
                    f"use: {known}",
                    "unknown_column",
                    {"column": name, "known": known},
                )
            )
        elif column is not None and column.key in seen:
            issues.append(
                InputIssue(
                    f"column {name}",
                    "appears twice",
                    "keep one of them",
                    "duplicate_column",
                    {"column": name},
                )
            )
        elif column is not None:
            seen.add(column.key)
    if "prompt" not in seen:
        issues.append(
            InputIssue(
                "header",
                "has no prompt column",
                "add a column prompt or 提示词",
                "no_prompt_column",
            )
        )
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
            where = f"{label} {number}, column {name}"
            issues.append(InputIssue(where, str(error), "", error.code, error.params))
    if not str(values.get("prompt", "")).strip():
        where = f"{label} {number}, column {_header_of(header, columns, 'prompt')}"
        issues.append(
            InputIssue(where, "the prompt is empty", "every row needs a prompt", "empty_prompt")
        )
    extra = [cell for cell in cells[len(header) :] if cell.strip()]
    if extra:
        issues.append(
            InputIssue(
                f"{label} {number}",
                f"has {len(extra)} cell(s) beyond the header",
                "add a header for them or remove them",
                "extra_cells",
                {"n": len(extra)},
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
    # a cell names files or URLs; the API turns names into its uploads and assets
    references = tuple(image_ref(text) for text in values.get("reference_images", ()))
    return [
        TaskSpec(
            ImageRequest(
                values["prompt"].strip(),
                negative_prompt=values.get("negative_prompt"),
                aspect_ratio=values.get("aspect_ratio"),
                resolution=values.get("resolution"),
                seed=values.get("seed"),
                variant=variant,
                references=references,
            ),
            filename=values.get("filename"),
            provider=values.get("provider"),
            model=values.get("model"),
            source=source,
        )
        for variant in range(count)
    ]
