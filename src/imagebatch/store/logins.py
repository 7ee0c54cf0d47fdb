"""LoginAttempts: failed logins, counted per (user name, address), per address and per user.

An attempt is recorded *before* its password is checked, in the transaction that counts the
earlier ones, so parallel guesses cannot all slip under a count that none of them has joined
yet. On PostgreSQL that transaction first takes advisory locks on the address and on the user
name (always in that order, so two attempts never wait for each other in a cycle); on SQLite
every write transaction is BEGIN IMMEDIATE, one at a time already. A refused attempt is not
recorded: hammering a throttled pair must not push the user's own ceiling up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from imagebatch.store.db import Database
from imagebatch.store.tables_accounts import login_failures

#: advisory lock classes (two-key form: a key space of its own, apart from the claim lock)
_ADDRESS_LOCK = 0x6C67_6E61  # "lgna"
_USER_LOCK = 0x6C67_6E75  # "lgnu"
_NAME_CHARS = 100
_ADDRESS_CHARS = 64


class Scope(StrEnum):
    #: one user name from one address: a typo-prone user or a guesser at one account
    PAIR = "pair"
    #: one address, whatever the names: a guesser trying many accounts
    ADDRESS = "address"
    #: one user name from anywhere: guessing spread over many addresses
    USER = "user"


@dataclass(frozen=True, slots=True)
class LoginLimits:
    window: timedelta = timedelta(minutes=15)
    #: failed logins for one user name from one address within the window
    per_pair: int = 10
    #: failed logins from one address within the window
    per_address: int = 50
    #: failed logins for one user name from all addresses: a ceiling against distributed
    #: guessing, high enough that a guesser at one address never reaches it alone
    per_user: int = 100

    def limit(self, scope: Scope) -> int:
        return {Scope.PAIR: self.per_pair, Scope.ADDRESS: self.per_address}.get(
            scope, self.per_user
        )


@dataclass(frozen=True, slots=True)
class Refused:
    """The attempt was not let through: `scope` is full until `free_at`."""

    scope: Scope
    free_at: datetime


class LoginAttempts:
    def __init__(self, db: Database, limits: LoginLimits | None = None) -> None:
        self.db = db
        self.limits = limits or LoginLimits()

    async def begin(self, username: str, address: str, now: datetime) -> Refused | None:
        """Record an attempt as failed (until it succeeds) unless one of its scopes is full."""
        name, ip = username[:_NAME_CHARS], address[:_ADDRESS_CHARS]

        def work(conn: Connection) -> Refused | None:
            if not self.db.is_sqlite:
                _take_turn(conn, name, ip)
            refused = self._refusal(conn, name, ip, now)
            if refused is None:
                conn.execute(insert(login_failures).values(username=name, ip=ip, at=now))
            return refused

        return await self.db.write(work)

    async def succeeded(self, username: str, address: str) -> None:
        """The password was right: the failures of this name from this address are forgiven
        (its own attempt among them); those from other addresses still count."""
        pair = _where(Scope.PAIR, username[:_NAME_CHARS], address[:_ADDRESS_CHARS])
        await self.db.write(lambda conn: conn.execute(delete(login_failures).where(*pair)))

    async def clear(self, username: str) -> int:
        """Forget every failure for a user name (an admin's unlock): how many there were."""
        statement = delete(login_failures).where(login_failures.c.username == username)
        return int(await self.db.write(lambda conn: conn.execute(statement).rowcount))

    def _refusal(self, conn: Connection, name: str, ip: str, now: datetime) -> Refused | None:
        since = now - self.limits.window
        # Old rows of this name and address go now: the table stays as small as the window.
        conn.execute(delete(login_failures).where(*_where(Scope.USER, name, ip), _before(since)))
        conn.execute(delete(login_failures).where(*_where(Scope.ADDRESS, name, ip), _before(since)))
        for scope in Scope:
            count, oldest = conn.execute(
                select(func.count(), func.min(login_failures.c.at)).where(
                    *_where(scope, name, ip), login_failures.c.at >= since
                )
            ).one()
            if count >= self.limits.limit(scope):
                # Attempts past a limit are never recorded, so the count is at the limit
                # and the oldest failure leaving the window frees the next try.
                return Refused(scope, (oldest or now) + self.limits.window)
        return None


def _where(scope: Scope, name: str, ip: str) -> list[Any]:
    by_name = login_failures.c.username == name
    by_ip = login_failures.c.ip == ip
    return {Scope.PAIR: [by_name, by_ip], Scope.ADDRESS: [by_ip]}.get(scope, [by_name])


def _before(moment: datetime) -> Any:
    return login_failures.c.at < moment


def _take_turn(conn: Connection, name: str, ip: str) -> None:
    """Attempts at the same address, then at the same name, wait for each other (until
    commit): each counts the ones before it."""
    conn.execute(select(func.pg_advisory_xact_lock(_ADDRESS_LOCK, func.hashtext(ip))))
    conn.execute(select(func.pg_advisory_xact_lock(_USER_LOCK, func.hashtext(name))))
