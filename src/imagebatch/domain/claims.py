"""A worker's claim, as the worker and the store both see it: what it asks for (ClaimRequest),
what the store found free (Grant), what it leased (Claimed), and the per-provider slot
arithmetic both sides apply when they hand slots out (ProviderBudget).

The store counts the calls in flight everywhere and picks tasks within the limits
(store/claim.py); the worker lets its claimed tasks call their provider within the grant
(engine/worker/call_gate.py). Both hand out slots the same way, so they share these types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from imagebatch.domain.records import Task

#: calls in flight everywhere, as a claim counts them: (owner, provider, how many)
RunningCount = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class ClaimLimits:
    """The concurrency limits in force (engine/worker/limits.py reads them)."""

    #: tasks running at once across every worker
    global_limit: int
    #: tasks running at once per provider (absent: only the global limit applies)
    per_provider: Mapping[str, int] = field(default_factory=dict)
    #: only claim from these batches (the CLI works on its own batch)
    batch_ids: Sequence[int] | None = None


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """One claim a worker makes: how many call slots to fill, how many tasks to take ahead
    of need, within which limits, leased for how long."""

    limits: ClaimLimits
    #: call slots to fill if free; the worker's waiting tasks take them first
    slots: int
    lease_seconds: float
    #: tasks to claim beyond the free slots, to wait for one (engine/worker/call_gate.py)
    ahead: int = 0
    #: ids of the worker's running tasks that hold no call slot: those claimed ahead and
    #: waiting for one, and those whose call is over (their outputs are being stored and
    #: recorded). While that worker still leases them they are not counted.
    not_calling: Sequence[int] = ()
    #: the owners of the waiting ones, one entry per task: they take the slots a claim
    #: grants first, and count as their owners' share in the turns
    waiting: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Grant:
    """The call slots a claim found free."""

    #: call slots free now (at most the number asked for): the worker lets this many of its
    #: waiting tasks, then of the claimed ones, call their provider
    slots: int = 0
    #: free call slots of each provider with a limit of its own
    provider_slots: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Claimed:
    """The tasks a claim leased, and the call slots it found free."""

    tasks: list[Task] = field(default_factory=list)
    grant: Grant = field(default_factory=Grant)


class ProviderBudget:
    """Call slots left per provider with a limit of its own, while slots are handed out; a
    provider without one is held only by the global count."""

    __slots__ = ("_left",)

    def __init__(self, left: Mapping[str, int]) -> None:
        self._left = dict(left)

    def take(self, provider: str) -> bool:
        """Take one of `provider`'s slots; False if it has none left."""
        left = self._left.get(provider)
        if left is None:
            return True
        if left <= 0:
            return False
        self._left[provider] = left - 1
        return True

    def full(self) -> list[str]:
        """The providers with no slot left."""
        return [provider for provider, left in self._left.items() if left <= 0]


def free_slots(
    request: ClaimRequest, running: Sequence[RunningCount]
) -> tuple[int, dict[str, int]]:
    """Call slots free for this claim (at most those asked for), and each limited provider's
    free slots (negative when its limit shrank below the calls in flight)."""
    in_flight = sum(n for _, _, n in running)
    slots = max(0, min(request.slots, request.limits.global_limit - in_flight))
    per_provider = dict(request.limits.per_provider)
    for _, provider, n in running:
        if provider in per_provider:
            per_provider[provider] -= n
    return slots, per_provider


def grant_of(slots: int, per_provider: Mapping[str, int]) -> Grant:
    return Grant(slots, {provider: max(0, n) for provider, n in per_provider.items()})


def owner_load(running: Iterable[RunningCount], waiting: Iterable[str]) -> dict[str, int]:
    """Tasks each owner holds a slot for or waits with: who is served first in the turns."""
    load: dict[str, int] = {}
    for owner, _, n in running:
        load[owner] = load.get(owner, 0) + n
    for owner in waiting:
        load[owner] = load.get(owner, 0) + 1
    return load
