"""UserRepo: users, browser sessions and API tokens (failed logins: store/logins.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from imagebatch.domain.accounts import ApiToken, Role, User
from imagebatch.domain.owners import owner_key
from imagebatch.errors import Conflict, NotFound
from imagebatch.store import ledger
from imagebatch.store.db import Database
from imagebatch.store.tables_accounts import api_tokens, sessions, users

_PUBLIC_COLUMNS = [c for c in users.c if c.name not in {"password_hash", "webhook_secret"}]


def user_from_row(row: Row[Any] | Any) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        name=m["name"],
        role=Role(m["role"]),
        disabled=bool(m["disabled"]),
        balance=m["balance"],
        created_at=m["created_at"],
        webhook_url=m["webhook_url"],
        last_login_at=m["last_login_at"],
    )


def _token_from_row(row: Row[Any]) -> ApiToken:
    m = row._mapping
    return ApiToken(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        prefix=m["prefix"],
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


@dataclass(frozen=True, slots=True)
class Ended:
    """What a change of password or disabling a user ended."""

    sessions: int = 0
    tokens: int = 0


def _ends_access(values: dict[str, Any]) -> bool:
    """A new password or disabling ends every session and API token: whoever had the old
    password may have made them."""
    return bool(values.get("disabled")) or "password_hash" in values


@dataclass(frozen=True, slots=True)
class NewUser:
    name: str
    password_hash: str
    role: Role
    balance: int = 0


def _one_user(conn: Connection, *where: Any) -> User:
    row = conn.execute(select(*_PUBLIC_COLUMNS).where(*where)).first()
    if row is None:
        raise NotFound("no such user")
    return user_from_row(row)


def _end_access(conn: Connection, user_id: int, now: datetime) -> Ended:
    dropped = conn.execute(delete(sessions).where(sessions.c.user_id == user_id)).rowcount
    revoked = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    return Ended(sessions=dropped, tokens=revoked)


class UserRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        #: called after anything that can end a session or token or change a user
        self.on_change: list[Callable[[], None]] = []

    def _changed(self) -> None:
        for listener in self.on_change:
            listener()

    async def create(self, new: NewUser, now: datetime) -> User:
        def work(conn: Connection) -> User:
            try:
                with conn.begin_nested():
                    user_id = conn.execute(
                        insert(users)
                        .values(
                            name=new.name,
                            password_hash=new.password_hash,
                            role=new.role.value,
                            disabled=False,
                            balance=0,
                            created_at=now,
                        )
                        .returning(users.c.id)
                    ).scalar_one()
            except IntegrityError:
                raise Conflict(
                    f"a user named {new.name!r} already exists",
                    code="user_exists",
                    params={"name": new.name},
                ) from None
            if new.balance:
                ledger.grant(conn, owner_key(user_id), new.balance, now, "initial credits")
            return _one_user(conn, users.c.id == user_id)

        return await self.db.write(work)

    async def count(self) -> int:
        def work(conn: Connection) -> int:
            return int(conn.scalar(select(func.count(users.c.id))) or 0)

        return await self.db.read(work)

    async def get(self, user_id: int) -> User:
        return await self.db.read(lambda conn: _one_user(conn, users.c.id == user_id))

    async def by_name(self, name: str) -> User:
        return await self.db.read(lambda conn: _one_user(conn, users.c.name == name))

    async def everyone(self) -> list[User]:
        query = select(*_PUBLIC_COLUMNS).order_by(users.c.id)
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [user_from_row(row) for row in rows]

    async def password_hash(self, name: str) -> tuple[User, str] | None:
        def work(conn: Connection) -> tuple[User, str] | None:
            row = conn.execute(select(users).where(users.c.name == name)).first()
            return (user_from_row(row), row.password_hash) if row else None

        return await self.db.read(work)

    async def update(self, user_id: int, **values: Any) -> User:
        return (await self.update_ending_access(user_id, datetime.now(UTC), **values))[0]

    async def update_ending_access(
        self, user_id: int, now: datetime, **values: Any
    ) -> tuple[User, Ended]:
        """Change the user; a new password or disabling also ends (in the same transaction)
        their sessions and API tokens, revoked as of `now`."""

        def work(conn: Connection) -> tuple[User, Ended]:
            if not conn.execute(update(users).where(users.c.id == user_id).values(values)).rowcount:
                raise NotFound(f"no user {user_id}")
            ended = _end_access(conn, user_id, now) if _ends_access(values) else Ended()
            return _one_user(conn, users.c.id == user_id), ended

        updated = await self.db.write(work)
        self._changed()
        return updated

    async def webhook_secret(self, user_id: int) -> str | None:
        query = select(users.c.webhook_secret).where(users.c.id == user_id)
        value: str | None = await self.db.read(lambda conn: conn.execute(query).scalar())
        return value

    # Sessions -------------------------------------------------------------------------

    async def add_session(
        self, session_id: str, user_id: int, csrf: str, now: datetime, expires: datetime
    ) -> None:
        def work(conn: Connection) -> None:
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(
                insert(sessions).values(
                    id=session_id,
                    user_id=user_id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                )
            )
            conn.execute(update(users).where(users.c.id == user_id).values(last_login_at=now))

        await self.db.write(work)

    async def session_user(self, session_id: str, now: datetime) -> tuple[User, str] | None:
        """The user and CSRF token of a live session of an enabled user."""
        query = (
            select(*_PUBLIC_COLUMNS, sessions.c.csrf_token)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.id == session_id, sessions.c.expires_at > now, ~users.c.disabled)
        )
        row = await self.db.read(lambda conn: conn.execute(query).first())
        return (user_from_row(row), row.csrf_token) if row else None

    async def drop_session(self, session_id: str) -> None:
        await self.db.write(
            lambda conn: conn.execute(delete(sessions).where(sessions.c.id == session_id))
        )
        self._changed()

    # API tokens -----------------------------------------------------------------------

    async def add_token(
        self, user_id: int, name: str, token_hash: str, prefix: str, now: datetime
    ) -> ApiToken:
        def work(conn: Connection) -> ApiToken:
            row = conn.execute(
                insert(api_tokens)
                .values(
                    user_id=user_id, name=name, token_hash=token_hash, prefix=prefix, created_at=now
                )
                .returning(*api_tokens.c)
            ).one()
            return _token_from_row(row)

        return await self.db.write(work)

    async def token_user(self, token_hash: str) -> tuple[User, ApiToken] | None:
        query = (
            select(*_PUBLIC_COLUMNS, *[c.label(f"t_{c.name}") for c in api_tokens.c])
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(
                api_tokens.c.token_hash == token_hash,
                api_tokens.c.revoked_at.is_(None),
                ~users.c.disabled,
            )
        )
        row = await self.db.read(lambda conn: conn.execute(query).first())
        if row is None:
            return None
        m = row._mapping
        token = ApiToken(
            id=m["t_id"],
            user_id=m["t_user_id"],
            name=m["t_name"],
            prefix=m["t_prefix"],
            created_at=m["t_created_at"],
            last_used_at=m["t_last_used_at"],
        )
        return user_from_row(row), token

    async def touch_token(self, token_id: int, now: datetime) -> None:
        statement = update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
        await self.db.write(lambda conn: conn.execute(statement))

    async def tokens(self, user_id: int) -> list[ApiToken]:
        query = select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id)
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [_token_from_row(row) for row in rows]

    async def revoke_token(self, user_id: int, token_id: int, now: datetime) -> None:
        statement = (
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id)
            .values(revoked_at=func.coalesce(api_tokens.c.revoked_at, now))
        )

        def work(conn: Connection) -> None:
            if not conn.execute(statement).rowcount:
                raise NotFound(f"no token {token_id}")

        await self.db.write(work)
        self._changed()
