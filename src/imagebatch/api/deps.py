"""Request dependencies: the App, the authenticated user, CSRF for cookie sessions, and
the batch or task a path names when the caller may act on it.

A request authenticates with `Authorization: Bearer <API token>` or with the session cookie
a browser got from /api/auth/login. Cookie-authenticated requests that change something must
echo the CSRF token (readable cookie `ib_csrf`) in the `X-CSRF-Token` header: another site
can make the browser send our cookie, but cannot read it to copy it into a header.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends, Path, Query, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from imagebatch.app import App
from imagebatch.domain.accounts import User
from imagebatch.domain.records import Batch, Task
from imagebatch.errors import Forbidden, NotAuthenticated, NotFound

SESSION_COOKIE = "ib_session"
CSRF_COOKIE = "ib_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: ids are 64-bit integers in the database; anything larger cannot name a row
MAX_ID = 2**63 - 1
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
Cursor = Annotated[int | None, Query(ge=0, le=MAX_ID)]

_bearer = HTTPBearer(auto_error=False, description="A personal API token (POST /api/auth/tokens)")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Browser session")


# Dependencies are coroutines even when they do no I/O: FastAPI runs a plain function in a
# thread, a hand-off that costs more than the work (and, under load, a GIL switch interval).
async def get_app(request: Request) -> App:
    return app_of(request)


def app_of(request: Request) -> App:
    app: App = request.app.state.app
    return app


AppDep = Annotated[App, Depends(get_app)]


async def current_user(
    request: Request,
    app: AppDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    session: Annotated[str | None, Security(_cookie)],
) -> User:
    if credentials is not None:
        user = await app.accounts.token_user(credentials.credentials)
        if user is None:
            raise NotAuthenticated("the API token is invalid or was revoked", code="token_invalid")
        return user
    if session:
        found = await app.accounts.session(session)
        if found is None:
            raise NotAuthenticated("the session has expired; log in again", code="session_expired")
        user, csrf = found
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), csrf.encode()):
                message = f"missing or wrong CSRF token: send the {CSRF_HEADER} header"
                raise Forbidden(message, code="csrf")
        return user
    message = "log in, or send an API token as Authorization: Bearer …"
    raise NotAuthenticated(message, code="not_logged_in")


CurrentUser = Annotated[User, Depends(current_user)]


async def optional_user(
    request: Request,
    app: AppDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    session: Annotated[str | None, Security(_cookie)],
) -> User | None:
    """The caller, or None when anonymous (or their token or session is not valid)."""
    try:
        return await current_user(request, app, credentials, session)
    except NotAuthenticated:
        return None


#: for answers that say more to some callers than to anyone
OptionalUser = Annotated[User | None, Depends(optional_user)]


async def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("administrators only", code="admin_only")
    return user


AdminUser = Annotated[User, Depends(admin_user)]


class _Owned(Protocol):
    @property
    def owner(self) -> str: ...


OwnedT = TypeVar("OwnedT", bound=_Owned)


def owned(thing: OwnedT, user: User, missing: str) -> OwnedT:
    """`thing` when `user` owns it or is an admin. Someone else's answers 404 with the
    words an unknown id gets (`missing`), never 403: an id tells nobody whose it is."""
    if thing.owner != user.owner and not user.is_admin:
        raise NotFound(missing)
    return thing


async def owned_batch(batch_id: ObjectId, user: CurrentUser, app: AppDep) -> Batch:
    return owned(await app.batches.get(batch_id), user, f"no batch {batch_id}")


async def owned_task(task_id: ObjectId, user: CurrentUser, app: AppDep) -> Task:
    return owned(await app.tasks.get(task_id), user, f"no task {task_id}")


#: the batch the path's {batch_id} names, if the caller may act on it (404 otherwise)
OwnedBatch = Annotated[Batch, Depends(owned_batch)]
#: the task the path's {task_id} names, if the caller may act on it (404 otherwise)
OwnedTask = Annotated[Task, Depends(owned_task)]


def client_address(request: Request) -> str:
    """The peer's address; X-Forwarded-For only when the peer is a trusted proxy
    (IMAGEBATCH_FORWARDED_ALLOW_IPS, applied by create_server), never a client's word."""
    return request.client.host if request.client else "unknown"
