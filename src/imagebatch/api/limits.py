"""How large a request body may be, counted before and while it is read, never after.

BodyLimit (pure ASGI: streamed answers stay streamed) holds every request body to
`max_json_bytes` (IMAGEBATCH_MAX_JSON_BYTES): a declared Content-Length over it is answered
413 before a byte is read, a chunked body is counted as it arrives and refused once past it.
Multipart bodies sent to the routes that take uploads pass: those count them against the
admin's runtime limits themselves (api.uploads), because the limits change at run time. A
multipart body anywhere else is held to the JSON limit (FastAPI would read it whole).

Starlette's own RequestBodyLimitMiddleware is not used: it answers a declared length over
the limit in plain text, whatever the route's error handlers said.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable

from fastapi import Request
from fastapi.routing import APIRoute, APIRouter
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagebatch.api.errors import error_body
from imagebatch.errors import TooLarge
from imagebatch.imaging.inputs import human_size

#: room for the text fields and multipart framing beside the files
FIELDS_ALLOWANCE = 1024 * 1024
MULTIPART = "multipart/form-data"


class BodyTooLarge(HTTPException):
    """Raised while the app reads a body past the limit; answered 413 (api.errors)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))
        #: what api.errors answers (Starlette's HTTPException carries no code)
        self.error = body_too_large(limit)


def too_large_message(limit: int) -> str:
    return (
        f"the request body is over the {human_size(limit)} limit: send less at once, "
        "or upload files as multipart/form-data (IMAGEBATCH_MAX_JSON_BYTES sets the limit)"
    )


def body_too_large(limit: int) -> TooLarge:
    return TooLarge(
        too_large_message(limit), code="body_too_large", params={"limit": human_size(limit)}
    )


def upload_paths(routers: Iterable[APIRouter]) -> frozenset[str]:
    """The paths whose routes say (in their OpenAPI body) that they read multipart."""
    return frozenset(
        route.path
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and MULTIPART in _body_types(route)
    )


def _body_types(route: APIRoute) -> dict[str, object]:
    body: dict[str, dict[str, object]] = (route.openapi_extra or {}).get("requestBody", {})
    return body.get("content", {})


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int, uploads: frozenset[str]) -> None:
        self.app = app
        self.limit = limit
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_upload(scope):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _is_upload(self, scope: Scope) -> bool:
        kind = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
        return kind == MULTIPART and scope["path"] in self.uploads

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        return counted

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = error_body(body_too_large(self.limit))
        # The unread body is not waited for: the connection closes after the answer.
        await JSONResponse(body, status_code=413, headers={"Connection": "close"})(
            scope, receive, send
        )


def declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isdigit() else None


async def capped(
    stream: AsyncIterator[bytes], limit: int, too_large: Callable[[], TooLarge]
) -> AsyncGenerator[bytes, None]:
    """The body's chunks, refused as soon as they add up to more than `limit`."""
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise too_large()
        yield chunk
