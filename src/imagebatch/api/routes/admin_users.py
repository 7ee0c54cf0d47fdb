"""/api/admin/users: create, disable, grant credits, reset passwords, unlock logins (admins
only)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from imagebatch.api.deps import AdminUser, AppDep, ObjectId
from imagebatch.api.errors import responses
from imagebatch.api.views import UserOut
from imagebatch.domain.accounts import Role
from imagebatch.domain.credits import from_micros, to_micros
from imagebatch.errors import Forbidden

router = APIRouter(prefix="/api/admin/users", tags=["admin"], responses=responses(401, 403))


class NewUserIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    #: left out: one is generated and shown once in the answer
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    role: Role = Role.USER
    #: left out: IMAGEBATCH_INITIAL_CREDITS
    credits: float | None = Field(default=None, ge=0, le=1e9)


class UserCreated(BaseModel):
    user: UserOut
    #: only when it was generated: pass it on, it is not shown again
    password: str | None


class UserUpdate(BaseModel):
    disabled: bool | None = None
    role: Role | None = None


class GrantIn(BaseModel):
    #: credits to add (negative to take away)
    amount: float = Field(ge=-1e9, le=1e9)
    note: str = Field(default="granted by an admin", max_length=200)


class PasswordReset(BaseModel):
    password: str | None = Field(default=None, min_length=8, max_length=1000)


class PasswordOut(BaseModel):
    password: str
    #: the user's browser sessions that ended
    sessions_ended: int
    #: the user's API tokens that were revoked
    tokens_revoked: int


class UnlockOut(BaseModel):
    #: failed logins forgotten (from every address)
    failures_cleared: int


class LedgerEntryOut(BaseModel):
    id: int
    kind: str
    amount: float
    batch_id: int | None
    task_id: int | None
    note: str | None
    created_at: datetime


class CreditsOut(BaseModel):
    user: UserOut
    totals: dict[str, float]
    entries: list[LedgerEntryOut]


@router.get("")
async def list_users(_admin: AdminUser, app: AppDep) -> list[UserOut]:
    return [UserOut.of(u) for u in await app.users.everyone()]


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(409, 422))
async def create_user(body: NewUserIn, _admin: AdminUser, app: AppDep) -> UserCreated:
    generated = None if body.password else secrets.token_urlsafe(12)
    user = await app.accounts.create_user(
        body.name,
        body.password or generated or "",
        body.role,
        None if body.credits is None else to_micros(body.credits),
    )
    return UserCreated(user=UserOut.of(user), password=generated)


@router.put("/{user_id}", responses=responses(404, 422))
async def update_user(
    user_id: ObjectId, body: UserUpdate, admin: AdminUser, app: AppDep
) -> UserOut:
    """Disable or enable a user (disabling ends their sessions and revokes their API tokens
    at once), or change their role."""
    if user_id == admin.id and (body.disabled or body.role is Role.USER):
        message = "you cannot disable yourself or give up your own admin role"
        raise Forbidden(message, code="own_account")
    values = body.model_dump(exclude_none=True)
    if "role" in values:
        values["role"] = values["role"].value
    if not values:
        return UserOut.of(await app.users.get(user_id))
    return UserOut.of((await app.accounts.update_user(user_id, **values))[0])


@router.post("/{user_id}/credits", responses=responses(404, 422))
async def grant_credits(
    user_id: ObjectId, body: GrantIn, _admin: AdminUser, app: AppDep
) -> UserOut:
    user = await app.users.get(user_id)
    await app.ledger.grant(user.owner, to_micros(body.amount), app.clock(), body.note)
    return UserOut.of(await app.users.get(user_id))


@router.get("/{user_id}/credits", responses=responses(404))
async def user_credits(
    user_id: ObjectId,
    _admin: AdminUser,
    app: AppDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CreditsOut:
    """The user's balance, sums by kind and latest ledger entries."""
    user = await app.users.get(user_id)
    totals = await app.ledger.totals(user.owner)
    entries = await app.ledger.entries(user.owner, limit)
    return CreditsOut(
        user=UserOut.of(user),
        totals={kind: from_micros(amount) for kind, amount in totals.items()},
        entries=[LedgerEntryOut(**{**e, "amount": from_micros(e["amount"])}) for e in entries],
    )


@router.post("/{user_id}/password", responses=responses(404, 422))
async def reset_password(
    user_id: ObjectId, body: PasswordReset, admin: AdminUser, app: AppDep
) -> PasswordOut:
    """Set a new password (generated when left out); the user's sessions end and their API
    tokens are revoked. Not your own: a session left open must not change a password it
    does not know (POST /api/auth/password asks for the current one)."""
    if user_id == admin.id:
        message = "change your own password with POST /api/auth/password"
        raise Forbidden(message, code="own_password")
    password = body.password or secrets.token_urlsafe(12)
    ended = await app.accounts.set_password(user_id, password)
    return PasswordOut(
        password=password, sessions_ended=ended.sessions, tokens_revoked=ended.tokens
    )


@router.post("/{user_id}/unlock", responses=responses(404))
async def unlock(user_id: ObjectId, _admin: AdminUser, app: AppDep) -> UnlockOut:
    """Forget the user's failed logins, from every address: after the per-user ceiling
    paused their logins (guessing from many addresses), once the cause is dealt with."""
    user = await app.users.get(user_id)
    return UnlockOut(failures_cleared=await app.accounts.unlock(user.name))
