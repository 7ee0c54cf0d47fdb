"""Which of a worker's claimed tasks may call their provider now.

A claim's transaction counts the calls in flight everywhere and grants the slots it finds
free. When calls are short, a worker also claims a few tasks ahead of need: they wait here,
leased, and take a slot the moment one of this worker's calls ends. Such a hand-over leaves
the number of calls in flight as it was, so it needs no database round trip. Refilling a
slot through the database took 4-11 ms under load: a tenth of every slot's time with 50 ms
calls. A hand-over takes microseconds.

Where a claim waits for the database, a hand-over is decided on the spot, so the counts a
claim took stay right: a task that ends and the one that takes its slot change places in the
same step of the event loop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from imagebatch.domain.claims import Claimed, ClaimLimits, ClaimRequest, ProviderBudget
from imagebatch.engine.worker.book import Book, Phase

#: tasks claimed ahead cover this many claim round trips' worth of call ends
AHEAD_COVER = 3.0
#: weight of the newest sample in the running means of call and claim times
SMOOTHING = 0.1


class AheadEstimate:
    """How many tasks to claim ahead: enough to cover the call ends expected while a claim
    makes its round trip, and none when calls are long (seconds, as real providers' are),
    so there a running task is always a call in flight."""

    def __init__(self) -> None:
        self._call: float | None = None
        self._claim: float | None = None

    def call_took(self, seconds: float) -> None:
        self._call = _smoothed(self._call, seconds)

    def claim_took(self, seconds: float) -> None:
        self._claim = _smoothed(self._claim, seconds)

    def target(self, slots: int) -> int:
        if not self._call or self._claim is None:
            return 0
        ends_per_round_trip = slots * self._claim / self._call
        return min(slots, math.floor(AHEAD_COVER * ends_per_round_trip + 0.5))


def _smoothed(mean: float | None, sample: float) -> float:
    return sample if mean is None else mean + SMOOTHING * (sample - mean)


class CallGate:
    """Lets a worker's claimed tasks call their provider: those a claim found slots for at
    once, the others as this worker's calls end (a hand-over), and so decides what the next
    claim should ask for. The tasks and their phases are the worker's book (engine/worker/book.py).
    Everything here runs on the event loop, without awaits."""

    def __init__(self, book: Book, capacity: int, claim_ahead: int | None = None) -> None:
        self.book = book
        self.estimate = AheadEstimate()
        #: no more claims nor hand-overs: the worker stops
        self.stopping = False
        self._capacity = capacity
        self._claim_ahead = claim_ahead
        #: call slots we may fill, and the providers' own limits, as the last plan saw them
        self._allowance = capacity
        self._per_provider: Mapping[str, int] = {}

    def plan(self, limits: ClaimLimits, share: int | None, lease: float) -> ClaimRequest | None:
        """The claim to make now, or None. Taken in one step, so no hand-over falls
        between its counts of our tasks."""
        cap = min(self._capacity, limits.global_limit, share or limits.global_limit)
        self._allowance, self._per_provider = cap, limits.per_provider
        if self.stopping:
            return None
        finishing = self.book.in_phase(Phase.FINISHING)
        waiting = self.book.in_phase(Phase.WAITING)
        # Tasks whose call is over hold no slot, up to `cap` of them: a slow store must not
        # let outputs pile up in memory.
        piled = max(0, len(finishing) - cap)
        slots = max(0, cap - self.book.count(Phase.CALLING) - piled)
        wanted = self.estimate.target(cap) if self._claim_ahead is None else self._claim_ahead
        ahead = max(0, wanted - len(waiting))
        if not slots and not ahead:
            return None
        return ClaimRequest(
            limits,
            slots,
            lease,
            ahead,
            not_calling=[entry.task.id for entry in (*finishing, *waiting)],
            waiting=[entry.task.owner for entry in waiting],
        )

    def admit(self, claimed: Claimed) -> None:
        """Claimed tasks (in the book, waiting) and those waiting before them go through
        into the slots the claim found free, first come first served (and, for a provider
        with a limit of its own, into its free slots)."""
        grant = claimed.grant
        slots, budget = grant.slots, ProviderBudget(grant.provider_slots)
        for entry in self.book.in_phase(Phase.WAITING):
            if slots <= 0:
                return
            if budget.take(entry.task.provider):
                slots -= 1
                self.book.move(entry, Phase.CALLING)

    async def wait(self, task_id: int) -> None:
        """Until this task may call its provider."""
        entry = self.book.get(task_id)
        if entry is not None:
            await entry.slot

    def call_over(self, task_id: int) -> None:
        """The task's call is over: its slot goes to a task waiting for one, if one may
        take it."""
        entry = self.book.get(task_id)
        if entry is None or entry.phase is Phase.FINISHING:
            return
        self.book.move(entry, Phase.FINISHING)
        self._hand_over(entry.task.provider)

    def _hand_over(self, ended: str) -> None:
        for entry in self.book.in_phase(Phase.WAITING):
            if self._may_take(entry.task.provider, ended):
                self.book.move(entry, Phase.CALLING)
                return

    def _may_take(self, provider: str, ended: str) -> bool:
        """Whether a waiting task of `provider` may take the slot of a call to `ended`: the
        number of calls stays as the claims left it, unless the limits shrank meanwhile."""
        if self.stopping or self.book.count(Phase.CALLING) >= self._allowance:
            return False
        limit = self._per_provider.get(provider)
        return limit is None or (provider == ended and self.book.calls_to(provider) < limit)
