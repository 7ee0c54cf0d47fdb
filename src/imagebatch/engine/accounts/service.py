"""AccountService: users, passwords, browser sessions, API tokens and login throttling.

Passwords are hashed with Argon2 (argon2-cffi), off the event loop. Session cookies and API
tokens are random; only their SHA-256 is stored, so a copy of the database opens nothing.
A password is checked only after its attempt is counted (store/logins.py): failures are
throttled per (user, address), per address, and per user as a high ceiling. A new password
or disabling a user ends every session and API token of that user.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from imagebatch.domain.accounts import ApiToken, Role, User, check_password, check_user_name
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.errors import NotAuthenticated, TooManyAttempts
from imagebatch.store.logins import LoginAttempts, LoginLimits, Refused, Scope
from imagebatch.store.users import Ended, NewUser, UserRepo

log = logging.getLogger(__name__)

TOKEN_PREFIX = "ib_"
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
#: how long another process may still accept a session or token that was just revoked
AUTH_CACHE_SECONDS = 2.0


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so timing tells nothing.
    Made on first need: hashing takes a noticeable moment, every command would pay it."""
    return PasswordHasher().hash("not a real password")


class _Throttle(NamedTuple):
    #: the error's code (pages say which throttle it is in their language), {minutes} its param
    code: str
    message: str


_THROTTLED = {
    Scope.PAIR: _Throttle(
        code="login_throttled_pair",
        message="too many failed logins for this user from your address; try again in "
        "{minutes} min (another address is not affected)",
    ),
    Scope.ADDRESS: _Throttle(
        code="login_throttled_address",
        message="too many failed logins from your address; try again in {minutes} min",
    ),
    Scope.USER: _Throttle(
        code="login_throttled_user",
        message="too many failed logins for this user from many addresses; logins are "
        "paused for {minutes} min, or until an administrator unlocks the account "
        "(imagebatch users unlock NAME)",
    ),
}


@dataclass(frozen=True, slots=True)
class NewSession:
    #: the cookie value (shown to the browser once, stored hashed)
    token: str
    csrf_token: str
    user: User


class _AuthCache:
    """Who a session or token belongs to, remembered for a moment: most API calls are a
    script or page polling, and each would otherwise cost a database read. Anything that
    ends a session or token or changes a user clears it in this process; other processes
    notice within AUTH_CACHE_SECONDS."""

    def __init__(self, size: int = 10_000) -> None:
        self._entries: dict[str, tuple[float, tuple[User, str]]] = {}
        self._size = size

    def get(self, key: str) -> tuple[User, str] | None:
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: str, value: tuple[User, str]) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + AUTH_CACHE_SECONDS, value)

    def clear(self) -> None:
        self._entries.clear()


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountService:
    def __init__(
        self,
        users: UserRepo,
        clock: Clock = utc_now,
        *,
        session_lifetime: timedelta = timedelta(days=14),
        limits: LoginLimits | None = None,
        hasher: PasswordHasher | None = None,
        initial_credits: int = 0,
    ) -> None:
        self.initial_credits = initial_credits
        self._cache = _AuthCache()
        users.on_change.append(self._cache.clear)
        self.users = users
        self.clock = clock
        self.session_lifetime = session_lifetime
        self.attempts = LoginAttempts(users.db, limits)
        self.hasher = hasher or PasswordHasher()

    async def create_user(
        self, name: str, password: str, role: Role = Role.USER, credits: int | None = None
    ) -> User:
        """`credits` (micro-units): None gives the configured initial credits."""
        check_user_name(name)
        check_password(password)
        hashed = await asyncio.to_thread(self.hasher.hash, password)
        balance = self.initial_credits if credits is None else credits
        return await self.users.create(NewUser(name, hashed, role, balance), self.clock())

    async def bootstrap_admin(self, password: str | None) -> str | None:
        """With no user at all, create `admin`. Returns the password when we generated it."""
        if await self.users.count():
            return None
        generated = None if password else secrets.token_urlsafe(12)
        await self.create_user("admin", password or generated or "", Role.ADMIN)
        return generated

    async def set_password(self, user_id: int, password: str) -> Ended:
        """Give the user a new password: their sessions and API tokens end (returned)."""
        check_password(password)
        hashed = await asyncio.to_thread(self.hasher.hash, password)
        return (await self.update_user(user_id, password_hash=hashed))[1]

    async def update_user(self, user_id: int, **values: object) -> tuple[User, Ended]:
        """Change a user; disabling them ends their sessions and API tokens."""
        return await self.users.update_ending_access(user_id, self.clock(), **values)

    async def login(self, name: str, password: str, address: str) -> NewSession:
        user = await self.verify_password(name, password, address)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = self.clock()
        await self.users.add_session(digest(token), user.id, csrf, now, now + self.session_lifetime)
        return NewSession(token, csrf, user)

    async def verify_password(self, name: str, password: str, address: str) -> User:
        """The enabled user with this name and password, counted as a login attempt from
        `address`: TooManyAttempts before any check once its failures are too many."""
        refused = await self.attempts.begin(name, address, self.clock())
        if refused is not None:
            raise self._throttled(refused, name, address)
        found = await self.users.password_hash(name)
        ok = await asyncio.to_thread(self._verify, found[1] if found else _dummy_hash(), password)
        if found is None or not ok or found[0].disabled:
            # the attempt stays counted
            raise NotAuthenticated("wrong user name or password", code="wrong_login")
        await self.attempts.succeeded(name, address)
        return found[0]

    async def unlock(self, name: str) -> int:
        """Forget the failed logins for a user name (all addresses): how many there were."""
        return await self.attempts.clear(name)

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def _throttled(self, refused: Refused, name: str, address: str) -> TooManyAttempts:
        log.warning("login throttled (%s) for user %r from %s", refused.scope, name, address)
        wait = max(1, math.ceil((refused.free_at - self.clock()).total_seconds()))
        minutes = math.ceil(wait / 60)
        throttle = _THROTTLED[refused.scope]
        return TooManyAttempts(
            throttle.message.format(minutes=minutes),
            retry_after=wait,
            code=throttle.code,
            params={"minutes": minutes},
        )

    async def logout(self, session_token: str) -> None:
        await self.users.drop_session(digest(session_token))

    async def session(self, session_token: str) -> tuple[User, str] | None:
        """The user and CSRF token behind a session cookie, if it is live."""
        key = "s:" + digest(session_token)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        found = await self.users.session_user(key[2:], self.clock())
        if found is not None:
            self._cache.put(key, found)
        return found

    async def create_token(self, user: User, name: str) -> tuple[ApiToken, str]:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = await self.users.add_token(user.id, name, digest(secret), secret[:10], self.clock())
        return token, secret

    async def token_user(self, secret: str) -> User | None:
        key = "t:" + digest(secret)
        cached = self._cache.get(key)
        if cached is not None:
            return cached[0]
        found = await self.users.token_user(key[2:])
        if found is None:
            return None
        user, token = found
        now = self.clock()
        # Written at most once a minute: a busy script must not turn every read into a write.
        if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_INTERVAL:
            await self.users.touch_token(token.id, now)
        self._cache.put(key, (user, ""))
        return user
