"""Per-key limits in the key pool, on a fake clock: pacing, concurrency, 429 back-off (AIMD),
rests and disabled keys. Nothing here sleeps for real."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from imagebatch.errors import AuthFailed, RateLimited
from imagebatch.providers.keys import KeyLimits, KeyPool

A, B = "key-aaaa-1111", "key-bbbb-2222"


class FakeTime:
    """A clock and a sleep that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now + seconds, future))
        await future

    @property
    def pending(self) -> int:
        return sum(not future.done() for _, future in self.sleepers)

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, future in self.sleepers:
            if deadline <= self.now and not future.done():
                future.set_result(None)
        self.sleepers = [(d, f) for d, f in self.sleepers if not f.done()]
        await settle()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def pool(time: FakeTime, keys: str = f"{A},{B}", **limits: float) -> KeyPool:
    return KeyPool(
        "gemini",
        SecretStr(keys),
        time,
        limits=KeyLimits(**limits),
        sleep=time.sleep,  # type: ignore[arg-type]
    )


async def take(keys: KeyPool) -> str:
    async with keys.lease() as key:
        return key


async def next_key(keys: KeyPool, time: FakeTime, step: float = 0.25) -> tuple[str, float]:
    """The key the next call gets, and when, moving the clock forward until it has one."""
    task = asyncio.create_task(take(keys))
    await settle()
    for _ in range(1000):
        if task.done():
            return task.result(), time.now
        await time.advance(step)
    raise AssertionError("no key in time")


async def rate_limited(keys: KeyPool, retry_after: float | None) -> str:
    with pytest.raises(RateLimited):
        async with keys.lease() as key:
            raise RateLimited("429", retry_after=retry_after)
    return key


async def test_each_key_is_paced_to_its_rate() -> None:
    time = FakeTime()
    keys = pool(time, rpm=60)  # one call a second per key
    got: list[tuple[str, float]] = []

    async def call() -> None:
        got.append((await take(keys), time.now))

    calls = [asyncio.create_task(call()) for _ in range(5)]
    await settle()
    assert sorted(got) == [(A, 100), (B, 100)]
    assert time.pending == 1  # only the first waiter waits on a timer: no busy loop
    await time.advance(0.5)
    assert len(got) == 2
    await time.advance(0.5)
    assert sorted(got[2:]) == [(A, 101), (B, 101)]
    await time.advance(1)
    await asyncio.gather(*calls)
    assert got[4][1] == 102


async def test_a_key_at_its_concurrency_limit_waits_for_a_call_to_end() -> None:
    time = FakeTime()
    keys = pool(time, concurrency=1)
    ends = [asyncio.Event() for _ in range(3)]
    got: list[str] = []

    async def hold(end: asyncio.Event) -> None:
        async with keys.lease() as key:
            got.append(key)
            await end.wait()

    calls = [asyncio.create_task(hold(end)) for end in ends]
    await settle()
    assert sorted(got) == [A, B] and time.pending == 0  # the third waits for an end, no timer
    ends[1].set()
    await settle()
    assert got == [A, B, B]  # the slot that came free, with no time passing
    for end in ends:
        end.set()
    await asyncio.gather(*calls)


async def test_a_429_backs_that_key_off_and_cuts_its_rate_while_the_other_carries_on() -> None:
    time = FakeTime()
    keys = pool(time, rpm=60)
    assert await rate_limited(keys, retry_after=5) == A
    assert keys._keys[A].bucket.rate == pytest.approx(42)  # type: ignore[union-attr]
    assert keys._keys[B].bucket.rate == 60  # type: ignore[union-attr]
    served = [await next_key(keys, time) for _ in range(6)]
    assert served[:5] == [(B, 100), (B, 101), (B, 102), (B, 103), (B, 104)]
    assert served[5] == (A, 105)  # back after its Retry-After


async def test_successes_win_a_key_rate_back_up_to_the_ceiling() -> None:
    time = FakeTime()
    keys = pool(time, keys=A, rpm=60)
    await rate_limited(keys, retry_after=None)
    bucket = keys._keys[A].bucket
    assert bucket is not None and bucket.rate == pytest.approx(42)
    _, when = await next_key(keys, time, step=0.05)
    assert when == pytest.approx(100 + 60 / 42, abs=0.05)  # paced at the lowered rate
    for _ in range(50):
        await next_key(keys, time, step=0.5)
    assert bucket.rate == 60


async def test_a_429_backs_off_even_without_a_configured_rate() -> None:
    time = FakeTime()
    keys = pool(time, keys=A)
    await rate_limited(keys, retry_after=2)
    assert await next_key(keys, time) == (A, 102)


async def test_a_long_retry_after_sends_the_call_back_to_the_queue() -> None:
    time = FakeTime()
    keys = pool(time, keys=A, rpm=60)
    await rate_limited(keys, retry_after=3600)
    with pytest.raises(RateLimited) as caught:
        await take(keys)
    assert caught.value.retry_after == pytest.approx(3600)


async def test_a_resting_key_is_skipped_until_it_wakes() -> None:
    time = FakeTime()
    keys = pool(time)
    keys.rest(A, 60, "daily quota spent")
    assert {await take(keys) for _ in range(4)} == {B}
    keys.rest(B, 30, "daily quota spent")
    with pytest.raises(RateLimited, match="every key's quota is spent") as caught:
        await take(keys)
    assert caught.value.retry_after == pytest.approx(30)
    time.now += 61
    assert {await take(keys) for _ in range(4)} == {A, B}


async def test_a_rejected_key_leaves_the_pool() -> None:
    time = FakeTime()
    keys = pool(time)
    with pytest.raises(AuthFailed):
        async with keys.lease():
            raise AuthFailed("401")
    assert keys.active() == [B]
    assert {await take(keys) for _ in range(3)} == {B}
    with pytest.raises(AuthFailed):
        async with keys.lease():
            raise AuthFailed("401")
    with pytest.raises(AuthFailed, match="no usable API key"):
        await take(keys)


async def test_a_cancelled_waiter_takes_no_key() -> None:
    time = FakeTime()
    keys = pool(time, keys=A, rpm=60)
    assert await take(keys) == A
    first = asyncio.create_task(take(keys))
    second = asyncio.create_task(take(keys))
    await settle()
    first.cancel()
    await settle()
    await time.advance(1)
    assert second.done() and second.result() == A and first.cancelled()
