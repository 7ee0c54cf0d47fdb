"""The credit ledger: append-only entries, each written in the transaction that causes it.

The users.balance column is the running sum of a user's grants, reservations and releases,
kept beside the ledger so that "can this user afford the batch" is one conditional UPDATE:
two batches created at once can never both spend the same credits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, false, func, insert, select, update

from imagebatch.domain.credits import EntryKind, InsufficientCredits, RefundPolicy
from imagebatch.domain.owners import user_id_of
from imagebatch.domain.states import TaskStatus
from imagebatch.store.db import Database
from imagebatch.store.tables import settings, tasks
from imagebatch.store.tables_accounts import credit_ledger, users

REFUND_POLICY = "refund_policy"


@dataclass(frozen=True, slots=True)
class Priced:
    """A task whose reservation is being settled."""

    owner: str
    batch_id: int
    task_id: int
    price: int


@dataclass(frozen=True, slots=True)
class BatchCredits:
    reserved: int
    charged: int
    released: int
    #: the price of the batch's tasks that have not ended
    open: int

    @property
    def balanced(self) -> bool:
        return self.reserved == self.charged + self.released + self.open


def owned_by(owner: str) -> ColumnElement[bool]:
    """The users row whose balance `owner` spends: none for a CLI owner (no account)."""
    user_id = user_id_of(owner)
    return false() if user_id is None else users.c.id == user_id


def reserve(
    conn: Connection,
    owner: str,
    batch_id: int,
    amount: int,
    now: datetime,
    note: str = "batch created",
) -> None:
    """Set `amount` aside from the owner's balance, or raise InsufficientCredits."""
    if amount <= 0:
        return
    taken = conn.execute(
        update(users)
        .where(owned_by(owner), users.c.balance >= amount)
        .values(balance=users.c.balance - amount)
    ).rowcount
    if not taken:
        available = conn.execute(select(users.c.balance).where(owned_by(owner))).scalar()
        raise InsufficientCredits(amount, int(available or 0))
    _append(conn, [_entry(owner, batch_id, None, EntryKind.RESERVE, amount, now, note)])


def grant(conn: Connection, owner: str, amount: int, now: datetime, note: str) -> None:
    conn.execute(update(users).where(owned_by(owner)).values(balance=users.c.balance + amount))
    _append(conn, [_entry(owner, None, None, EntryKind.GRANT, amount, now, note)])


def charge(conn: Connection, ended: Sequence[Priced], now: datetime) -> None:
    """Tasks that succeeded: their reservations are spent."""
    _settle(conn, ended, EntryKind.CHARGE, now)


def settle_unsuccessful(conn: Connection, ended: Sequence[Priced], now: datetime) -> None:
    """Tasks that failed or were cancelled: released, unless the policy says no refunds."""
    if not any(p.price for p in ended):
        return
    kind = EntryKind.CHARGE if refund_policy(conn) is RefundPolicy.NO_REFUND else EntryKind.RELEASE
    _settle(conn, ended, kind, now)


def refund_policy(conn: Connection) -> RefundPolicy:
    value = conn.execute(select(settings.c.value).where(settings.c.key == REFUND_POLICY)).scalar()
    return RefundPolicy(value) if value else RefundPolicy.REFUND


def _settle(conn: Connection, ended: Sequence[Priced], kind: EntryKind, now: datetime) -> None:
    priced = [p for p in ended if p.price > 0]
    if not priced:
        return
    _append(conn, [_entry(p.owner, p.batch_id, p.task_id, kind, p.price, now) for p in priced])
    if kind is EntryKind.RELEASE:
        returned: dict[str, int] = defaultdict(int)
        for p in priced:
            returned[p.owner] += p.price
        for owner, amount in returned.items():
            conn.execute(
                update(users).where(owned_by(owner)).values(balance=users.c.balance + amount)
            )


def _entry(
    owner: str,
    batch_id: int | None,
    task_id: int | None,
    kind: EntryKind,
    amount: int,
    now: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "owner": owner,
        "batch_id": batch_id,
        "task_id": task_id,
        "kind": kind.value,
        "amount": amount,
        "note": note,
        "created_at": now,
    }


def _append(conn: Connection, entries: list[dict[str, Any]]) -> None:
    conn.execute(insert(credit_ledger), entries)


def batch_credits(conn: Connection, batch_id: int) -> BatchCredits:
    sums = dict(
        conn.execute(
            select(credit_ledger.c.kind, func.sum(credit_ledger.c.amount))
            .where(credit_ledger.c.batch_id == batch_id)
            .group_by(credit_ledger.c.kind)
        ).all()
    )
    still_open = conn.execute(
        select(func.coalesce(func.sum(tasks.c.price), 0)).where(
            tasks.c.batch_id == batch_id,
            tasks.c.status.in_([TaskStatus.PENDING.value, TaskStatus.RUNNING.value]),
        )
    ).scalar()
    return BatchCredits(
        reserved=int(sums.get(EntryKind.RESERVE.value) or 0),
        charged=int(sums.get(EntryKind.CHARGE.value) or 0),
        released=int(sums.get(EntryKind.RELEASE.value) or 0),
        open=int(still_open or 0),
    )


class LedgerRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def grant(self, owner: str, amount: int, now: datetime, note: str) -> None:
        await self.db.write(lambda conn: grant(conn, owner, amount, now, note))

    async def batch(self, batch_id: int) -> BatchCredits:
        return await self.db.read(lambda conn: batch_credits(conn, batch_id))

    async def entries(
        self, owner: str, limit: int = 100, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        query = (
            select(credit_ledger)
            .where(credit_ledger.c.owner == owner)
            .order_by(credit_ledger.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(credit_ledger.c.id < before_id)
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [dict(row._mapping) for row in rows]

    async def totals(self, owner: str) -> dict[str, int]:
        """Sum per entry kind: with the balance, the user's whole account in one look."""
        query = (
            select(credit_ledger.c.kind, func.sum(credit_ledger.c.amount))
            .where(credit_ledger.c.owner == owner)
            .group_by(credit_ledger.c.kind)
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return {kind.value: 0 for kind in EntryKind} | {k: int(v or 0) for k, v in rows}
