"""Small builders shared by the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from imagebatch.app import App
from imagebatch.domain.records import Batch
from imagebatch.domain.specs import Mode, TaskSpec
from imagebatch.engine.service import Submission
from tests.flat_requests import task_spec


def prompts(*texts: str, **fields: object) -> list[TaskSpec]:
    return [
        task_spec(text, source=f"prompt {i + 1}", **fields)  # type: ignore[arg-type]
        for i, text in enumerate(texts)
    ]


async def submit(
    app: App, specs: Sequence[TaskSpec], owner: str = "alice", **extra: object
) -> Batch:
    sub = Submission(
        name=extra.pop("name", "test"),  # type: ignore[arg-type]
        owner=owner,
        mode=extra.pop("mode", Mode.GENERATE),  # type: ignore[arg-type]
        provider=extra.pop("provider", "demo"),  # type: ignore[arg-type]
        specs=list(specs),
        **extra,  # type: ignore[arg-type]
    )
    return (await app.service.submit(sub)).batch


async def run_to_end(app: App, batch_ids: Sequence[int], concurrency: int | None = None) -> None:
    """Drain the given batches with one in-process worker; bounded so a bug cannot hang CI."""
    worker = app.worker(batch_ids=list(batch_ids), concurrency=concurrency, drain=True)
    await asyncio.wait_for(worker.run(), timeout=20)
