"""`imagebatch export`: a batch's tasks back into a spreadsheet, with status and output paths."""

from __future__ import annotations

import asyncio
from pathlib import Path

from imagebatch.app import App
from imagebatch.blobs.local import write_atomically
from imagebatch.cli.outputs import all_tasks
from imagebatch.domain.filenames import extension_for
from imagebatch.domain.manifest import MANIFEST_COLUMNS, manifest_row
from imagebatch.domain.sheet_files import write_results
from imagebatch.errors import InputError, InputIssue

FORMATS = {".csv": "csv", ".xlsx": "xlsx"}


async def export_batch(app: App, batch_id: int, out: Path) -> None:
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InputError(InputIssue(str(out), "unknown export format", "name it .csv or .xlsx"))
    batch = await app.batches.get(batch_id)
    folder = Path(batch.out_dir) if batch.out_dir else None
    rows: list[dict[str, object]] = []
    async for task in all_tasks(app, batch_id):
        file = ""
        if task.output_image_id is not None:
            image = await app.images.get(task.output_image_id)
            name = f"{task.output_filename}{extension_for(image.mime)}"
            file = str(folder / name) if folder else name
        rows.append(manifest_row(task, file))
    data = write_results(rows, MANIFEST_COLUMNS, fmt)
    await asyncio.to_thread(write_atomically, out, data)
