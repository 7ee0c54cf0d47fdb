"""A pool of fake ComfyUI backends on 127.0.0.1 behind one provider: the work spreads, a dead
backend is benched (its calls go elsewhere for free), one dying mid-prompt costs one attempt,
and a cancel reaches every backend."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from imagebatch.config import Settings
from imagebatch.errors import ConnectionFailed
from imagebatch.providers.base import BackendStatuses, ProviderRequest
from imagebatch.providers.comfyui import ComfyUIProvider, load_workflow
from tests.fakes.comfyui import FakeComfyUI
from tests.flat_requests import provider_request
from tests.waiting import wait_until_async


@pytest.fixture
def fakes() -> Iterator[list[FakeComfyUI]]:
    with ExitStack() as stack:
        yield [stack.enter_context(FakeComfyUI()) for _ in range(3)]


def pool(*urls: str, concurrency: int = 1) -> ComfyUIProvider:
    return ComfyUIProvider(
        ",".join(urls), load_workflow(None), 10, poll_seconds=0.01, backend_concurrency=concurrency
    )


def request(variant: int) -> ProviderRequest:
    return provider_request("workflow", "a kite", variant=variant)


def refused_url() -> str:
    """A loopback port nobody listens on: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_the_work_spreads_over_every_backend(fakes: list[FakeComfyUI]) -> None:
    client = pool(*(f.url for f in fakes))
    for fake in fakes:
        fake.hold()
    tasks = [asyncio.create_task(client.generate(request(v))) for v in range(6)]
    for fake in fakes:  # one each at a time: ComfyUI runs one prompt at once
        await asyncio.to_thread(fake.wait_running)
    assert [len(f.graphs) for f in fakes] == [1, 1, 1]
    for fake in fakes:
        fake.release()
    results = await asyncio.gather(*tasks)
    await client.aclose()
    assert len(results) == 6 and [len(f.executed) for f in fakes] == [2, 2, 2]


async def test_a_backend_refusing_connections_is_benched_at_no_cost(
    fakes: list[FakeComfyUI],
) -> None:
    dead = refused_url()
    client = pool(dead, fakes[0].url)
    results = [await client.generate(request(v)) for v in range(3)]
    statuses = await client.backend_statuses()
    await client.aclose()
    assert len(results) == 3 and len(fakes[0].executed) == 3
    benched, up = statuses
    assert (benched.url, benched.up, up.up) == (dead, False, True)
    assert "ConnectError" in benched.last_error and up.queue_length == 0


async def test_a_backend_dying_mid_prompt_costs_that_attempt_only(
    fakes: list[FakeComfyUI],
) -> None:
    first, second = fakes[0], fakes[1]
    client = pool(first.url, second.url)
    first.hold()
    second.hold()
    tasks = [asyncio.create_task(client.generate(request(v))) for v in range(2)]
    await asyncio.to_thread(first.wait_running)
    await asyncio.to_thread(second.wait_running)
    first.kill()
    second.release()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert sum(isinstance(o, ConnectionFailed) for o in outcomes) == 1
    # The engine's retry of the lost task runs on the backend still up.
    lost = next(v for v, o in enumerate(outcomes) if isinstance(o, ConnectionFailed))
    retried = await client.generate(request(lost))
    statuses = await client.backend_statuses()
    await client.aclose()
    assert retried.images and len(second.executed) == 2
    assert [s.up for s in statuses] == [False, True]


async def test_cancel_reaches_every_backend(fakes: list[FakeComfyUI]) -> None:
    client = pool(fakes[0].url, fakes[1].url, concurrency=2)
    for fake in fakes[:2]:
        fake.hold()
    tasks = [asyncio.create_task(client.generate(request(v))) for v in range(4)]
    for fake in fakes[:2]:
        await asyncio.to_thread(fake.wait_running)
    await wait_until_async(
        lambda: sum(f.queue_length() for f in fakes[:2]),
        lambda queued: queued >= 4,
        awaiting="all four prompts in the two ComfyUI queues",
    )
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.aclose()
    for fake in fakes[:2]:
        assert [body["prompt_id"] for body in fake.interrupts] == fake.executed
        assert set(fake.deleted) == set(fake.graphs)
        await asyncio.to_thread(fake.wait_idle)
        assert len(fake.executed) == 1  # the pending one never ran


def test_the_provider_limit_is_the_sum_of_the_backends() -> None:
    settings = Settings(
        comfyui_base_url="http://gpu0:8188, http://gpu1:8188,http://box:8188",
        comfyui_backend_concurrency=2,
    )
    assert settings.provider_concurrency["comfyui"] == 6
    explicit = Settings(comfyui_base_url="http://a,http://b", provider_concurrency={"comfyui": 1})
    assert explicit.provider_concurrency["comfyui"] == 1


def test_the_pool_reports_its_backends() -> None:
    client = pool("http://user:secret@gpu0:8188", "http://gpu1:8188")
    assert isinstance(client, BackendStatuses)
    assert [b.shown_url for b in client.pool.backends] == ["http://gpu0:8188", "http://gpu1:8188"]
