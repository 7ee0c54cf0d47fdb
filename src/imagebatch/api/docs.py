"""The interactive API documentation at /docs: Swagger UI served from this package, so it
works without the internet, under the same strict Content-Security-Policy as the pages.

FastAPI's own /docs page loads Swagger UI from a CDN and starts it with an inline script;
both break offline or under a CSP without 'unsafe-inline'. The assets come from the
`fastapi-offline` package (a maintained bundle of Swagger UI), the start-up script is a file
of ours, and the page itself is plain HTML.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, HTMLResponse
from starlette.staticfiles import StaticFiles

#: Swagger UI's bundle and stylesheet, as the fastapi-offline wheel ships them
SWAGGER_ASSETS = Path(str(files("fastapi_offline") / "static"))
INIT_SCRIPT = Path(__file__).with_name("docs_init.js")
#: no inline script or style, nothing from other origins; data: images are Swagger UI's icons
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS = {"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"}


def _page(title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – API</title>
<link rel="icon" href="/docs/assets/favicon.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""


def install_docs(server: FastAPI) -> None:
    """/docs, its assets under /docs/assets, and its start-up script /docs/init.js. The
    server must be built with docs_url=None (FastAPI's own page) and redoc_url=None (ReDoc
    needs inline styles and a CDN)."""
    page = _page(server.title, server.openapi_url or "/openapi.json")
    server.mount("/docs/assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")

    @server.get("/docs/init.js", include_in_schema=False)
    async def docs_init() -> FileResponse:
        return FileResponse(INIT_SCRIPT, media_type="text/javascript", headers=HEADERS)

    @server.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=HEADERS)
