"""manifest.csv: one row per task beside the outputs (CLI folder, ZIP download, exports)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping

from imagebatch.domain.records import Task
from imagebatch.domain.sheet_files import csv_safe_rows

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = [
    "file",
    "status",
    "prompt",
    "negative_prompt",
    "aspect_ratio",
    "resolution",
    "seed",
    "provider",
    "model",
    "source",
    "attempts",
    "error",
    "task_id",
    "reused",
]


def manifest_row(task: Task, file: str) -> dict[str, object]:
    request = task.request
    return {
        "file": file,
        "status": task.status.value,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt or "",
        "aspect_ratio": request.aspect_ratio.value if request.aspect_ratio else "",
        "resolution": request.resolution.value if request.resolution else "",
        "seed": _seed(task),
        "provider": task.provider,
        "model": task.model,
        "source": task.source or "",
        "attempts": task.attempts,
        "error": task.error_message or "",
        "task_id": task.id,
        "reused": "yes" if task.reused else "",
    }


def _seed(task: Task) -> int | str:
    """The seed the provider used; the user's own for a task that recorded none (not run yet,
    or finished before seeds were recorded)."""
    seed = task.request.seed if task.seed_used is None else task.seed_used
    return "" if seed is None else seed


def manifest_csv(rows: Iterable[Mapping[str, object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, MANIFEST_COLUMNS)
    writer.writeheader()
    writer.writerows(csv_safe_rows(rows))  # prompts are the users' text: never formulas
    # UTF-8 with a BOM: Excel then shows Chinese prompts correctly.
    return ("\ufeff" + buffer.getvalue()).encode()
