"""Putting the web UI on the API server: static files under /static, and the pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from imagebatch.web import pages
from imagebatch.web.security import SecuredStaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def install_web(server: FastAPI) -> None:
    server.mount("/static", SecuredStaticFiles(directory=STATIC_DIR), name="static")
    server.include_router(pages.router)
