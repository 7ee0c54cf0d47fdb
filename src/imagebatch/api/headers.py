"""Security headers on every answer the server gives: JSON, errors, 404s, pages, static files,
images, downloads and event streams alike.

`X-Content-Type-Options: nosniff` makes browsers believe our Content-Type instead of guessing
one from the bytes (a JSON answer or an image holding `<script>` is never run as HTML). The
pages' Content-Security-Policy is set by the web UI (imagebatch.web.security); images get their
own, stricter one (IMAGE_CSP). A header a route set itself is left as it is.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVERY_ANSWER = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
#: for image bytes: nothing may load or run, even if a browser is made to render them as a page
IMAGE_CSP = "default-src 'none'; sandbox"


class SecurityHeaders:
    """Pure ASGI middleware (no BaseHTTPMiddleware: streamed answers stay streamed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_ANSWER.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(server: Starlette) -> None:
    """Put SecurityHeaders outside every other middleware. `add_middleware` would put it
    inside Starlette's ServerErrorMiddleware, whose 500 answers would then go without."""
    build = server.build_middleware_stack
    server.build_middleware_stack = lambda: SecurityHeaders(build())  # type: ignore[method-assign]
