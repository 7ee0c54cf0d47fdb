"""Who owns a batch, task, asset, key or ledger entry: the `owner` columns hold an owner key.

An account's key is built from its id, never its name, so that ownership cannot pass to
whoever is later called the same; the CLI's own runs (`imagebatch run`, no account) are owned
by the unix user in a separate space. User names cannot contain ':' (domain/accounts.py), so
no user name, old or new, is ever mistaken for a key of either space.
"""

from __future__ import annotations

_USER = "user:"
_LOCAL = "local:"


def owner_key(user_id: int) -> str:
    """The owner key of the account with this id."""
    return f"{_USER}{user_id}"


def local_owner(unix_name: str) -> str:
    """The owner key of a CLI run by this unix user (it has no account)."""
    return f"{_LOCAL}{unix_name}"


def user_id_of(owner: str) -> int | None:
    """The account id inside an owner key; None for a CLI owner (or anything else)."""
    digits = owner.removeprefix(_USER)
    return int(digits) if digits != owner and digits.isdigit() else None
