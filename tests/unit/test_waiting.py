"""The tests' one polling helper: it returns what it waited for, and a wait that never ends
fails naming what it waited for and the last value it saw."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.waiting import wait_until, wait_until_async


def test_returns_the_first_value_that_is_done() -> None:
    counter = itertools.count()
    assert wait_until(lambda: next(counter), lambda n: n >= 3, awaiting="three", every=0) == 3


def test_a_wait_that_never_ends_names_what_it_waited_for_and_what_it_saw() -> None:
    with pytest.raises(AssertionError) as failed:
        wait_until(lambda: 41, lambda n: n == 42, awaiting="the answer", timeout=0.05)
    assert str(failed.value) == "waited 0.05 s for the answer; last seen: 41"


def test_the_failure_adds_what_explain_says() -> None:
    with pytest.raises(AssertionError, match=r"last seen: ''\nworker log: boom$"):
        wait_until(lambda: "", awaiting="output", timeout=0.01, explain=lambda: "worker log: boom")


async def test_the_async_wait_takes_coroutine_probes_and_lets_other_tasks_run() -> None:
    ready = asyncio.Event()
    asyncio.get_running_loop().call_soon(ready.set)

    async def look() -> bool:
        return ready.is_set()

    assert await wait_until_async(look, awaiting="the event") is True


async def test_the_async_wait_fails_with_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"^waited 0\.05 s for nothing; last seen: \[\]$"):
        await wait_until_async(list, awaiting="nothing", timeout=0.05)


async def test_a_probe_that_hangs_is_bounded_too() -> None:
    never = asyncio.Event()
    with pytest.raises(AssertionError, match="last seen: nothing yet"):
        await wait_until_async(never.wait, awaiting="a hung probe", timeout=0.05)
