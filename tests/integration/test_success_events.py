"""A success's event carries its output (the task and its image row) to listeners in this
process, so the CLI's output folder places it without reading either back; what is relayed
to other processes and sent to clients stays as it was."""

from __future__ import annotations

from imagebatch.app import App
from imagebatch.engine.events import Event
from imagebatch.engine.relay import decode, encode
from tests.integration.helpers import prompts, run_to_end, submit


async def test_a_success_event_carries_the_output_as_recorded(app: App) -> None:
    batch = await submit(app, prompts("a red fox", "a red fox", "a blue whale"))
    async with app.events.subscribe() as queue:
        await run_to_end(app, [batch.id])
        events: list[Event] = []
        while not queue.empty():
            events.append(queue.get_nowait())

    succeeded = [e for e in events if e.status == "succeeded"]
    assert len(succeeded) == 3
    for event in succeeded:
        assert event.output is not None
        task, image = event.output.task, event.output.image
        stored = await app.tasks.get(task.id)
        assert (task.id, task.status, task.output_filename) == (
            stored.id,
            stored.status,
            stored.output_filename,
        )
        assert task.output_image_id == stored.output_image_id == image.id
        assert event.data == {"output_image_id": image.id}  # what clients and relays see
        row = await app.images.get(image.id)
        assert (image.storage_key, image.mime, image.bytes, image.sha256) == (
            row.storage_key,
            row.mime,
            row.bytes,
            row.sha256,
        )
        assert await app.blobs.exists(image.storage_key)

    [relayed] = decode(encode("here", succeeded[:1])[0], "elsewhere")  # another process's view
    assert (relayed.task_id, relayed.data, relayed.output) == (
        succeeded[0].task_id,
        succeeded[0].data,
        None,
    )
