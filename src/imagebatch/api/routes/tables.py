"""/api/tables and /api/prompts/preview: what the web composer needs around a batch.

A table file becomes rows for the editable grid (checked exactly as a table batch is), the
grid goes back out as XLSX, the example template comes down, and a prompt template shows
the prompts it expands to before anything is submitted.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from imagebatch.api.bodies import MAX_SEED
from imagebatch.api.deps import AppDep, CurrentUser
from imagebatch.api.errors import IssueOut, responses
from imagebatch.api.table_reading import uploaded_table_rows
from imagebatch.api.uploads import FILE, multipart_body, read_multipart
from imagebatch.domain.disposition import disposition
from imagebatch.domain.prompts import expand_template, template_variables
from imagebatch.domain.sheet_columns import COLUMNS
from imagebatch.domain.sheet_files import template_workbook, write_results
from imagebatch.errors import InputError, InputIssue, NotFound

router = APIRouter(tags=["tables"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: a table file, and room for the multipart framing
MAX_TABLE_FILES = 1
TABLE_BODY = multipart_body({"table": FILE})
PREVIEW_LIMIT = 200


class TableRows(BaseModel):
    #: one object per non-blank row, keyed by the English column names
    rows: list[dict[str, str]]
    #: the columns the file has, English names, in the grid's order
    columns: list[str]
    #: with `?partial=1`: the problems of single rows and cells (those rows are in `rows`)
    issues: list[IssueOut] = []


class TableExportIn(BaseModel):
    rows: list[dict[str, Any]] = Field(max_length=10_000)


class PreviewIn(BaseModel):
    prompt: str = ""
    variables: dict[str, list[str]] = Field(default_factory=dict)
    count: int = Field(default=1, ge=1, le=100)
    preset_id: int | None = Field(default=None, ge=1, le=MAX_SEED)


class PreviewOut(BaseModel):
    #: the {name} variables the template uses, in order
    variables: list[str]
    #: the first expanded prompts (at most 200)
    prompts: list[str]
    #: how many prompts the template stands for
    total: int
    #: prompts × count: the tasks a batch would have
    tasks: int
    #: what stops the template from expanding (unbalanced braces, too many tasks…)
    issues: list[IssueOut] = []


@router.post("/api/tables/parse", openapi_extra=TABLE_BODY, responses=responses(401, 403, 413, 422))
async def parse_table_file(
    request: Request, _user: CurrentUser, app: AppDep, partial: bool = False
) -> TableRows:
    """Read a CSV/XLSX/JSONL task table (field `table`) into rows for editing; the same
    problems a table batch would refuse are refused, each with its row and column. With
    `?partial=1` rows with problems come back too (one bad row does not cost the others),
    their problems in `issues`; a problem of the whole table is still refused. The file
    is read in a child process, stopped at `parse_timeout_seconds`."""
    runtime = await app.runtime_settings.current()
    form = await read_multipart(
        request, max_files=MAX_TABLE_FILES, max_bytes=runtime.max_image_bytes
    )
    if form.oversize:
        raise InputError(
            [InputIssue(s.where, s.problem, s.hint, s.code, s.params) for s in form.oversize]
        )
    files = form.files.get("table", [])
    if not files:
        hint = "add a CSV, XLSX or JSONL file"
        raise InputError(InputIssue("table", "no table uploaded", hint, "no_table"))
    data, name = await files[0].read(), files[0].basename
    rows, issues = await uploaded_table_rows(app, runtime, data, name, partial)
    present = {key for row in rows for key in row}
    return TableRows(
        rows=rows,
        columns=[c.key for c in COLUMNS if c.key in present],
        issues=[IssueOut(where=i.where, problem=i.problem, hint=i.hint) for i in issues],
    )


@router.get(
    "/api/tables/template",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, **responses(401)},
)
async def table_template(
    _user: CurrentUser, lang: Annotated[Literal["en", "zh"], Query()] = "en"
) -> Response:
    """The example task table, with English or Chinese headers and a sheet of help."""
    name = "imagebatch-模板.xlsx" if lang == "zh" else "imagebatch-template.xlsx"
    return Response(
        template_workbook(lang),
        media_type=XLSX,
        headers={"Content-Disposition": disposition(name, inline=False)},
    )


@router.post(
    "/api/tables/export",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, **responses(401, 403, 422)},
)
async def export_table(
    body: TableExportIn,
    _user: CurrentUser,
    lang: Annotated[Literal["en", "zh"], Query()] = "en",
) -> Response:
    """Rows (as the grid holds them) as an XLSX task table that imports back unchanged."""
    chinese = lang == "zh"
    headers = {c.key: c.chinese if chinese else c.english for c in COLUMNS}
    rows = [
        {headers[key]: _cell(value) for key, value in row.items() if key in headers}
        for row in body.rows
    ]
    data = write_results(rows, list(headers.values()), "xlsx")
    name = "imagebatch-表格.xlsx" if chinese else "imagebatch-table.xlsx"
    return Response(
        data, media_type=XLSX, headers={"Content-Disposition": disposition(name, inline=False)}
    )


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "\n".join(str(item) for item in value)
    return value


@router.post("/api/prompts/preview", responses=responses(401, 403, 404, 422))
async def preview_prompts(body: PreviewIn, _user: CurrentUser, app: AppDep) -> PreviewOut:
    """The prompts a template expands to (the first 200), and how many tasks it makes.
    Variables still without values are listed and the prompts left empty; a template that
    cannot expand answers its issues (a preview is typed as it is asked for: half-written
    templates are normal, not errors)."""
    runtime = await app.runtime_settings.current()
    template = body.prompt
    if body.preset_id is not None:
        preset = await app.presets.get(body.preset_id)
        if not preset.active:
            raise NotFound(f"no preset {body.preset_id}")
        template = "\n".join(p for p in (preset.content, body.prompt) if p.strip())
    names = template_variables(template)
    variables = {name: [v for v in body.variables.get(name, []) if v.strip()] for name in names}
    if not template.strip() or any(not values for values in variables.values()):
        return PreviewOut(variables=names, prompts=[], total=0, tasks=0)
    try:
        prompts = expand_template(
            template,
            variables,
            count=body.count,
            max_tasks=runtime.max_tasks_per_batch,
            max_prompt_chars=app.settings.max_prompt_chars,
        )
    except InputError as error:
        issues = [IssueOut(where=i.where, problem=i.problem, hint=i.hint) for i in error.issues]
        return PreviewOut(variables=names, prompts=[], total=0, tasks=0, issues=issues)
    return PreviewOut(
        variables=names,
        prompts=prompts[:PREVIEW_LIMIT],
        total=len(prompts),
        tasks=len(prompts) * body.count,
    )
