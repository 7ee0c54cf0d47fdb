"""What pages and static files carry beyond the headers of every answer (no MIME sniffing, no
referrer to other sites, no framing: imagebatch.api.headers): a strict Content-Security-Policy
(no inline script or style, nothing from other origins).

The API's JSON answers get no page CSP; the /docs page has its own (imagebatch.api.docs).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS = {"Content-Security-Policy": CSP}


def secured(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response


class SecuredStaticFiles(StaticFiles):
    """Static files with the security headers, revalidated on each use (ETag): a new
    release is picked up at once, an unchanged file costs a 304."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = secured(await super().get_response(path, scope))
        response.headers.setdefault("Cache-Control", "no-cache")
        return response
