"""Our errors as HTTP answers: one JSON shape, {"error": {"type", "message", …}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from imagebatch.domain.credits import InsufficientCredits, from_micros
from imagebatch.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    ImagebatchError,
    InputError,
    NotAuthenticated,
    NotFound,
    TooLarge,
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


def install(server: FastAPI) -> None:
    server.add_exception_handler(ImagebatchError, _handle)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route may give."""
    return {code: {"model": ErrorOut} for code in codes}
