"""Who is looking at a page: the session cookie the API's login set, checked the same way
the API checks it (AccountService), without the API's CSRF rule (pages are only read)."""

from __future__ import annotations

from fastapi import Request

from imagebatch.api.deps import SESSION_COOKIE, app_of
from imagebatch.domain.accounts import User


async def page_user(request: Request) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = await app_of(request).accounts.session(token)
    return found[0] if found else None
