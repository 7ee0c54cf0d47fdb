"""/api/auth: logging in and out, who am I, API tokens, my webhook and password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Request, Response, status
from pydantic import BaseModel

from imagebatch.api.bodies import LoginIn, PasswordIn, TokenIn, WebhookIn
from imagebatch.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AppDep,
    CurrentUser,
    ObjectId,
    client_address,
)
from imagebatch.api.errors import responses
from imagebatch.api.views import TokenCreated, TokenOut, UserOut
from imagebatch.errors import NotAuthenticated

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginOut(BaseModel):
    user: UserOut
    #: echo in the X-CSRF-Token header of requests that change something
    csrf_token: str


class WebhookOut(BaseModel):
    url: str | None
    #: the HMAC-SHA256 key your receiver checks signatures with
    secret: str


def _secure(request: Request) -> bool:
    choice = request.app.state.app.settings.secure_cookies
    return choice == "always" or (choice == "auto" and request.url.scheme == "https")


@router.post("/login", responses=responses(401, 429))
async def login(body: LoginIn, request: Request, response: Response, app: AppDep) -> LoginOut:
    session = await app.accounts.login(body.name, body.password, client_address(request))
    max_age = int(app.settings.session_days * 86400)
    secure = _secure(request)
    response.set_cookie(
        SESSION_COOKIE, session.token, max_age=max_age, httponly=True, samesite="lax", secure=secure
    )
    # Readable by our own pages' scripts (that is the point), never by another site's.
    response.set_cookie(
        CSRF_COOKIE, session.csrf_token, max_age=max_age, samesite="strict", secure=secure
    )
    return LoginOut(user=UserOut.of(session.user), csrf_token=session.csrf_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403))
async def logout(
    _user: CurrentUser,
    response: Response,
    app: AppDep,
    ib_session: Annotated[str | None, Cookie()] = None,
) -> None:
    if ib_session:
        await app.accounts.logout(ib_session)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)


@router.get("/me", responses=responses(401))
async def me(user: CurrentUser, app: AppDep) -> UserOut:
    # Read again: who the caller is may come from a cache, their balance must not.
    return UserOut.of(await app.users.get(user.id))


class PasswordChanged(BaseModel):
    #: browser sessions that ended (this one too: log in again)
    sessions_ended: int
    #: API tokens revoked: scripts need new ones
    tokens_revoked: int


@router.post("/password", responses=responses(401, 403, 422, 429))
async def change_password(
    body: PasswordIn, user: CurrentUser, request: Request, response: Response, app: AppDep
) -> PasswordChanged:
    """Change your password: every session (this one too) ends and every API token is
    revoked, since whoever knew the old password may have made them."""
    try:
        await app.accounts.verify_password(
            user.name, body.current_password, client_address(request)
        )
    except NotAuthenticated:
        raise NotAuthenticated("the current password is wrong", code="wrong_password") from None
    ended = await app.accounts.set_password(user.id, body.new_password)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return PasswordChanged(sessions_ended=ended.sessions, tokens_revoked=ended.tokens)


@router.post("/tokens", status_code=status.HTTP_201_CREATED, responses=responses(401, 403))
async def create_token(body: TokenIn, user: CurrentUser, app: AppDep) -> TokenCreated:
    """A personal API token for scripts: shown once, stored hashed."""
    token, secret = await app.accounts.create_token(user, body.name)
    return TokenCreated(**TokenOut.of(token).model_dump(), token=secret)


@router.get("/tokens", responses=responses(401))
async def list_tokens(user: CurrentUser, app: AppDep) -> list[TokenOut]:
    return [TokenOut.of(t) for t in await app.users.tokens(user.id)]


@router.delete(
    "/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404)
)
async def revoke_token(token_id: ObjectId, user: CurrentUser, app: AppDep) -> None:
    await app.users.revoke_token(user.id, token_id, app.clock())


@router.get("/webhook", responses=responses(401))
async def get_webhook(user: CurrentUser, app: AppDep) -> WebhookOut:
    return WebhookOut(url=user.webhook_url, secret=await app.webhook_secrets.of(user.id))


@router.put("/webhook", responses=responses(401, 403, 422))
async def set_webhook(body: WebhookIn, user: CurrentUser, app: AppDep) -> WebhookOut:
    """Your default webhook for batches that name none, and its signing secret."""
    url = str(body.url) if body.url else None
    await app.users.update(user.id, webhook_url=url)
    if body.rotate_secret:
        secret = await app.webhook_secrets.rotate(user.id)
    else:
        secret = await app.webhook_secrets.of(user.id)
    return WebhookOut(url=url, secret=secret)
