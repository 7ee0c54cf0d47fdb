"""Putting the web UI on the API server: static files under /static, and the pages."""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from imagebatch.web import pages
from imagebatch.web.security import SecuredStaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def install_web(server: FastAPI) -> None:
    server.mount("/static", SecuredStaticFiles(directory=STATIC_DIR), name="static")
    server.include_router(pages.router)
    _pages_for_missing_pages(server)


def _pages_for_missing_pages(server: FastAPI) -> None:
    """A browser that opens an unknown address gets a page in its reader's language; every
    other 404 (the API's, a script's fetch, a missing static file) stays the API's JSON."""
    api_handler = server.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    async def handle(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 404 and _is_page_visit(request):
            return await pages.not_found(request)
        answer = api_handler(request, error)
        return await answer if inspect.isawaitable(answer) else answer

    server.add_exception_handler(StarletteHTTPException, handle)


def _is_page_visit(request: Request) -> bool:
    path = request.url.path
    return (
        request.method == "GET"
        and not path.startswith(("/api/", "/static/"))
        and "text/html" in request.headers.get("accept", "")
    )
