"""A claim's arithmetic, shared by the store (which tasks to claim) and the call gate."""

from __future__ import annotations

from imagebatch.domain.claims import (
    ClaimLimits,
    ClaimRequest,
    ProviderBudget,
    free_slots,
    grant_of,
    owner_load,
)


def test_a_budget_holds_limited_providers_and_lets_the_others_through() -> None:
    budget = ProviderBudget({"limited": 1, "full": 0})
    assert budget.take("limited") and not budget.take("limited")
    assert not budget.take("full")
    assert all(budget.take("unlimited") for _ in range(5))
    assert sorted(budget.full()) == ["full", "limited"]


def test_free_slots_count_every_call_in_flight_and_the_providers_own_limits() -> None:
    request = ClaimRequest(ClaimLimits(10, {"a": 3, "b": 1}), slots=8, lease_seconds=60)
    running = [("alice", "a", 2), ("bob", "b", 2), ("bob", "c", 3)]
    slots, per_provider = free_slots(request, running)
    assert (slots, per_provider) == (3, {"a": 1, "b": -1})  # b's limit shrank below its calls
    grant = grant_of(slots, per_provider)
    assert (grant.slots, dict(grant.provider_slots)) == (3, {"a": 1, "b": 0})


def test_never_more_slots_than_asked_for_nor_fewer_than_none() -> None:
    asked_two = ClaimRequest(ClaimLimits(10), slots=2, lease_seconds=60)
    assert free_slots(asked_two, [])[0] == 2
    assert free_slots(asked_two, [("alice", "a", 12)])[0] == 0


def test_an_owners_load_counts_its_calls_and_its_waiting_tasks() -> None:
    load = owner_load([("alice", "a", 2), ("alice", "b", 1)], ["bob", "alice", "bob"])
    assert load == {"alice": 4, "bob": 2}
