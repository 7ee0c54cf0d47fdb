"""Our errors as HTTP answers: one JSON shape, {"error": {"type", "code", "message", …}}."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, NamedTuple

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from imagebatch.domain.credits import InsufficientCredits, from_micros
from imagebatch.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    ImagebatchError,
    InputError,
    InputIssue,
    NotAuthenticated,
    NotFound,
    TooLarge,
    TooManyActiveTasks,
    TooManyAttempts,
)

log = logging.getLogger(__name__)

STATUS: dict[type[ImagebatchError], int] = {
    InputError: 422,
    NotFound: 404,
    Conflict: 409,
    IllegalTransition: 409,
    NotAuthenticated: 401,
    Forbidden: 403,
    TooManyAttempts: 429,
    InsufficientCredits: 402,
    TooLarge: 413,
}


class IssueOut(BaseModel):
    """One problem in the input, as an error's issues and a batch's skipped inputs say it."""

    #: stable and machine-readable: pages say the issue in their language from the code and
    #: params (docs/server-api.md lists every code); where/problem/hint are the English words
    code: str = "invalid"
    where: str
    #: the values the problem is made of; "row" and "column" place it in a table
    params: dict[str, str | int | float] = {}
    problem: str
    hint: str = ""

    @classmethod
    def of(cls, issue: InputIssue) -> IssueOut:
        return cls(
            code=issue.code,
            where=issue.where,
            params=_placed(issue),
            problem=issue.problem,
            hint=issue.hint,
        )

    @classmethod
    def as_given(cls, issue: InputIssue) -> IssueOut:
        """The issue's own params, without the row and column `of` reads from its place:
        what a skipped input has always been answered with."""
        said = {"where": issue.where, "problem": issue.problem, "hint": issue.hint}
        return cls(**said, code=issue.code, params=dict(issue.params))


class ErrorBody(BaseModel):
    type: str
    #: stable and machine-readable, for pages to translate: "user_exists", "batch_state"
    #: (a batch cannot do that in its state), "task_state", "not_found"… (snake_case of type)
    code: str
    message: str
    #: the values a translated message needs, e.g. {"name": "alice"} for user_exists
    params: dict[str, str | int | float] = {}
    issues: list[IssueOut] = []
    #: credits missing (402 only)
    shortfall: float | None = None
    needed: float | None = None
    available: float | None = None
    #: a user's queue is full (429 TooManyActiveTasks): the limit, tasks active now, asked for
    limit: int | None = None
    active: int | None = None
    requested: int | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


def _status(error: ImagebatchError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def error_body(error: ImagebatchError) -> dict[str, Any]:
    body = ErrorBody(
        type=type(error).__name__,
        code=error.code or _snake(type(error).__name__),
        message=error.message.split("\n")[0],
        params=dict(error.params),
    )
    if isinstance(error, InputError):
        body.issues = [IssueOut.of(issue) for issue in error.issues]
    if isinstance(error, InsufficientCredits):
        body.needed = from_micros(error.needed)
        body.available = from_micros(error.available)
        body.shortfall = from_micros(error.shortfall)
    if isinstance(error, TooManyActiveTasks):
        body.limit, body.active, body.requested = error.limit, error.active, error.requested
    return ErrorOut(error=body).model_dump(exclude_none=True)


async def _handle(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ImagebatchError)
    status = _status(error)
    if status == 500:
        log.error("unexpected error: %s", error)
    headers: dict[str, str] = {}
    if isinstance(error, NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, TooManyAttempts):
        headers["Retry-After"] = str(int(error.retry_after))
    return JSONResponse(error_body(error), status_code=status, headers=headers)


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's own validation (bodies, query and path parameters), in our shape."""
    assert isinstance(error, RequestValidationError)
    issues = [_validation_issue(item) for item in error.errors()]
    return await _handle(request, InputError(issues, "the request is not valid"))


def _validation_issue(item: Mapping[str, Any]) -> InputIssue:
    kind, *path = [str(part) for part in item.get("loc", ())] or ["body"]
    if item.get("type") == "json_invalid":
        reason = item.get("ctx", {}).get("error")
        problem = f"is not valid JSON ({reason})" if reason else "is not valid JSON"
        return InputIssue("body", problem, "send a JSON object, UTF-8 encoded", "invalid_json")
    field = ".".join(path) or kind
    where = field
    if kind in ("query", "path", "header", "cookie"):
        where = f"{field} ({kind} parameter)"
    code, params = _field_code(str(item.get("type", "")), item.get("ctx") or {})
    problem = str(item.get("msg", "is not valid"))
    hint = "see the API schema at /docs"
    return InputIssue(where, problem, hint, code, {"field": field, **params})


class _FieldCode(NamedTuple):
    code: str
    #: the bound pydantic names in its context ("le"), and the param it becomes ("max")
    bound: str | None = None
    param: str = "max"


#: pydantic's error types → our codes and the bound each names (others: field_invalid)
_FIELD_CODES = {
    "less_than_equal": _FieldCode(code="field_max", bound="le"),
    "less_than": _FieldCode(code="field_max", bound="lt"),
    "greater_than_equal": _FieldCode(code="field_min", bound="ge", param="min"),
    "greater_than": _FieldCode(code="field_min", bound="gt", param="min"),
    "int_parsing": _FieldCode(code="field_integer"),
    "int_type": _FieldCode(code="field_integer"),
    "int_from_float": _FieldCode(code="field_integer"),
    "string_too_long": _FieldCode(code="field_chars", bound="max_length"),
    "too_long": _FieldCode(code="field_items", bound="max_length"),
    "missing": _FieldCode(code="field_missing"),
    "enum": _FieldCode(code="field_choice", bound="expected", param="allowed"),
    "literal_error": _FieldCode(code="field_choice", bound="expected", param="allowed"),
}
_FIELD_INVALID = _FieldCode(code="field_invalid")


def _field_code(kind: str, ctx: Mapping[str, Any]) -> tuple[str, dict[str, str | int | float]]:
    found = _FIELD_CODES.get(kind, _FIELD_INVALID)
    if found.bound is None or found.bound not in ctx:
        return found.code, {}
    value = ctx[found.bound]
    return found.code, {found.param: value if isinstance(value, int | float) else str(value)}


_CELL = re.compile(r"^(?:row|line) (?P<row>\d+)(?:, column (?P<column>.+))?$")


def _placed(issue: InputIssue) -> dict[str, str | int | float]:
    """The issue's params, with the table row and column its `where` names ("row 3, column
    count", "line 7"): issues about a row say so in every language without each call site
    passing them."""
    params = dict(issue.params)
    cell = _CELL.match(issue.where)
    if cell:
        params.setdefault("row", int(cell["row"]))
        if cell["column"]:
            params.setdefault("column", cell["column"])
    return params


async def _http(request: Request, error: Exception) -> Response:
    """Starlette's and FastAPI's own HTTP errors (unknown path, wrong method, a body over
    the size limit, a body that cannot be read), in our shape."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 413:  # api.limits.BodyLimit, counting a body as it is read
        # api.limits.BodyTooLarge carries the TooLarge (with its code) to answer
        too_large = getattr(error, "error", None)
        if not isinstance(too_large, TooLarge):
            too_large = TooLarge(str(error.detail), code="body_too_large")
        return await _handle(request, too_large)
    if error.status_code < 400:  # 304 and the like carry no body
        return await http_exception_handler(request, error)
    name = _type_name(error.status_code)
    body = ErrorBody(type=name, code=_snake(name), message=str(error.detail))
    if error.status_code == 400:  # FastAPI could not read the body it was to parse
        unreadable = InputIssue("body", "cannot be read", UNREADABLE_HINT, "unreadable_body")
        body.issues = [IssueOut.of(unreadable)]
    content = ErrorOut(error=body).model_dump(exclude_none=True)
    return JSONResponse(content, status_code=error.status_code, headers=error.headers)


UNREADABLE_HINT = "send a JSON object, UTF-8 encoded, with Content-Type: application/json"


def _type_name(status: int) -> str:
    """404 → NotFound, 405 → MethodNotAllowed."""
    try:
        return HTTPStatus(status).phrase.title().replace(" ", "").replace("-", "")
    except ValueError:
        return "HTTPError"


def _snake(name: str) -> str:
    """NotFound → not_found, TooManyAttempts → too_many_attempts."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def install(server: FastAPI) -> None:
    server.add_exception_handler(ImagebatchError, _handle)
    server.add_exception_handler(RequestValidationError, _invalid)
    server.add_exception_handler(StarletteHTTPException, _http)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route may give."""
    return {code: {"model": ErrorOut} for code in codes}
