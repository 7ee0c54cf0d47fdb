"""Our errors as HTTP answers: one JSON shape, {"error": {"type", "message", …}}."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

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
    where: str
    problem: str
    hint: str = ""


class ErrorBody(BaseModel):
    type: str
    message: str
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
    body = ErrorBody(type=type(error).__name__, message=error.message.split("\n")[0])
    if isinstance(error, InputError):
        body.issues = [
            IssueOut(where=i.where, problem=i.problem, hint=i.hint) for i in error.issues
        ]
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
        return InputIssue("body", problem, "send a JSON object, UTF-8 encoded")
    where = ".".join(path) or kind
    if kind in ("query", "path", "header", "cookie"):
        where = f"{where} ({kind} parameter)"
    return InputIssue(where, str(item.get("msg", "is not valid")), "see the API schema at /docs")


async def _http(request: Request, error: Exception) -> Response:
    """Starlette's and FastAPI's own HTTP errors (unknown path, wrong method, a body over
    the size limit, a body that cannot be read), in our shape."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 413:  # api.limits.BodyLimit, counting a body as it is read
        return await _handle(request, TooLarge(str(error.detail)))
    if error.status_code < 400:  # 304 and the like carry no body
        return await http_exception_handler(request, error)
    body = ErrorBody(type=_type_name(error.status_code), message=str(error.detail))
    if error.status_code == 400:  # FastAPI could not read the body it was to parse
        body.issues = [IssueOut(where="body", problem="cannot be read", hint=UNREADABLE_HINT)]
    content = ErrorOut(error=body).model_dump(exclude_none=True)
    return JSONResponse(content, status_code=error.status_code, headers=error.headers)


UNREADABLE_HINT = "send a JSON object, UTF-8 encoded, with Content-Type: application/json"


def _type_name(status: int) -> str:
    """404 → NotFound, 405 → MethodNotAllowed."""
    try:
        return HTTPStatus(status).phrase.title().replace(" ", "").replace("-", "")
    except ValueError:
        return "HTTPError"


def install(server: FastAPI) -> None:
    server.add_exception_handler(ImagebatchError, _handle)
    server.add_exception_handler(RequestValidationError, _invalid)
    server.add_exception_handler(StarletteHTTPException, _http)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route may give."""
    return {code: {"model": ErrorOut} for code in codes}
