"""Users of the server and what they may do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from imagebatch.domain.owners import owner_key
from imagebatch.errors import InputError, InputIssue


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    disabled: bool
    #: credits available, in micro-units (see domain/credits.py)
    balance: int
    created_at: datetime
    webhook_url: str | None = None
    last_login_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def owner(self) -> str:
        """The key this user's batches, tasks, assets, keys and ledger entries are owned by."""
        return owner_key(self.id)


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


# No ':' (owner keys are "user:<id>" and "local:<unix name>", domain/owners.py), nothing a
# file name, a header or a shell would need quoted.
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD_LENGTH = 8


def check_user_name(name: str) -> str:
    if not _USER_NAME.fullmatch(name):
        raise InputError(
            InputIssue(
                "name",
                f"{name!r} is not a valid user name",
                "use 1–64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
                "bad_user_name",
                {"name": name},
            )
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            InputIssue(
                "password",
                f"the password has {len(password)} characters",
                f"use at least {MIN_PASSWORD_LENGTH}",
                "password_too_short",
                {"chars": len(password), "min": MIN_PASSWORD_LENGTH},
            )
        )
    return password
