"""Rate-limit behaviour: a batch against a fake OpenAI that enforces R requests a minute.

Prints achieved requests/minute ÷ R and the share of requests answered 429, for imagebatch
(token bucket at R, adapting on 429s) and for a naive client measured in the same run (fixed
concurrency, retry on 429 after a fixed delay); then per key: two API keys, the fake enforcing
R/2 on each, imagebatch pacing each key at R/2 (IMAGEBATCH_KEY_RPM) with no provider-wide
limit. Usage:

    python bench/ratelimit.py                 # 600 tasks, R = 120/min, 400 ms latency
    python bench/ratelimit.py --n 120         # a shorter run
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py is named like the standard library's `queue`: keep this folder off the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))  # for tests.fakes

import argparse
import asyncio
import tempfile
import time
from typing import Any

import openai
from pydantic import SecretStr
from tests.fakes.openai_images import FakeOpenAI

from imagebatch.app import build_app
from imagebatch.config import Settings
from imagebatch.domain.requests import ImageRequest
from imagebatch.domain.specs import Mode, TaskSpec
from imagebatch.engine.service import Submission

KEY = "sk-bench-0000"
KEYS = f"{KEY},sk-bench-1111"


async def imagebatch_run(fake: FakeOpenAI, n: int, keys: str, **settings: Any) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        config = Settings(
            data_dir=Path(scratch),
            openai_api_key=SecretStr(keys),
            openai_base_url=fake.base_url,
            provider_timeout=60,
            max_attempts=20,
            retry_base_delay=1.0,
            **settings,
        )
        app = await build_app(config)  # the provider factory builds the provider and its key pool
        specs = [TaskSpec(ImageRequest(f"bench {i}")) for i in range(n)]
        sub = Submission("bench", "bench", Mode.GENERATE, "openai", specs, max_tasks=n)
        batch = (await app.service.submit(sub)).batch
        started = time.perf_counter()
        await app.worker(batch_ids=[batch.id], drain=True).run()
        wall = time.perf_counter() - started
        done = await app.batches.get(batch.id)
        await app.close()
    assert done.succeeded == n, done
    return wall


async def naive_run(fake: FakeOpenAI, n: int, concurrency: int, retry_delay: float) -> float:
    """What ad-hoc scripts do: N at once, sleep a fixed delay on 429, try again."""
    client = openai.AsyncOpenAI(api_key=KEY, base_url=fake.base_url, max_retries=0)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            while True:
                try:
                    await client.images.generate(model="gpt-image-1", prompt=f"naive {i}")
                    break
                except openai.RateLimitError:
                    await asyncio.sleep(retry_delay)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    await client.close()
    return wall


def report(name: str, fake: FakeOpenAI, n: int, wall: float, rpm: float) -> None:
    achieved = n / wall * 60
    share = fake.rejected / len(fake.requests)
    print(
        f"| {name} | {n} | {wall:.1f} | {achieved:.1f} | {achieved / rpm:.3f} | "
        f"{len(fake.requests)} | {fake.rejected} | {share:.2%} |"
    )


async def scenario(name: str, fake: FakeOpenAI, args: argparse.Namespace) -> float:
    """Set the fake's limit for this scenario and run it; the wall time."""
    if name == "naive":
        fake.limit_rate(int(args.rpm), window=60.0)
        return await naive_run(fake, args.n, args.concurrency, retry_delay=1.0)
    if name == "imagebatch":
        fake.limit_rate(int(args.rpm), window=60.0)
        rpm: dict[str, Any] = {"provider_rpm": {"openai": args.rpm}}
        return await imagebatch_run(fake, args.n, KEY, concurrency=args.concurrency, **rpm)
    # two keys, each limited to R/2 by the provider and paced at R/2 by imagebatch
    fake.limit_key_rate(int(args.rpm / 2), window=60.0)
    rpm = {"key_rpm": {"openai": args.rpm / 2}}
    return await imagebatch_run(fake, args.n, KEYS, concurrency=args.concurrency, **rpm)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--rpm", type=float, default=120)
    parser.add_argument("--latency", type=float, default=0.4)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print("| client | tasks | wall s | achieved req/min | ÷ R | requests | 429s | 429 share |")
    print("|---|---|---|---|---|---|---|---|")
    notes = []
    for name in ("imagebatch", "naive", "imagebatch, 2 keys"):
        with FakeOpenAI(KEYS) as fake:
            fake.latency = args.latency
            wall = await scenario(name, fake, args)
            report(name, fake, args.n, wall, args.rpm)
        if name == "imagebatch, 2 keys":
            used = fake.served_by_key + fake.refused_by_key
            notes.append(
                f"{name}: requests per key {sorted(used.values())}, "
                f"429s per key {sorted(fake.refused_by_key.values())}"
            )
    print("\n".join(notes))


if __name__ == "__main__":
    asyncio.run(main())
