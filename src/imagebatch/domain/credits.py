"""Credits: amounts are integers of micro-credits, so the ledger adds up exactly.

One credit is one unit of the price table (US dollars for the commercial models' defaults).
The ledger is append-only; each entry's kind says which way the amount moves:

- grant:   an admin adds credits to a user's balance
- reserve: creating a batch (or retrying tasks) sets the price of its tasks aside
- charge:  a task succeeded; its reservation is spent
- release: a task failed or was cancelled; its reservation returns to the balance

For every batch: reserved = charged + released + open (the price of its unfinished tasks).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from imagebatch.errors import ImagebatchError

MICROS = 1_000_000


class EntryKind(StrEnum):
    GRANT = "grant"
    RESERVE = "reserve"
    CHARGE = "charge"
    RELEASE = "release"


class RefundPolicy(StrEnum):
    #: a failed or cancelled task costs nothing (the default)
    REFUND = "refund"
    #: a failed or cancelled task is charged as if it had succeeded
    NO_REFUND = "no_refund"


def to_micros(credits: float | Decimal | str) -> int:
    return int((Decimal(str(credits)) * MICROS).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_micros(micros: int) -> float:
    return micros / MICROS


class InsufficientCredits(ImagebatchError):
    """The balance does not cover the batch."""

    code = "credits_short"

    def __init__(self, needed: int, available: int) -> None:
        self.needed = needed
        self.available = available
        super().__init__(
            f"this needs {from_micros(needed):g} credits, the balance is "
            f"{from_micros(available):g}: {from_micros(self.shortfall):g} short",
            params={
                "needed": from_micros(needed),
                "available": from_micros(available),
                "shortfall": from_micros(self.shortfall),
            },
        )

    @property
    def shortfall(self) -> int:
        return self.needed - self.available
