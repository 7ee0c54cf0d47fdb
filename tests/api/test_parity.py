"""`imagebatch run --dry-run --json` and `POST /api/batches?dry_run=1` are two doors to one
pipeline: the same inputs give the same tasks and the same estimate."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.api.conftest import DEMO_PRICE, Api, png

#: the batch options, as CLI flags and as the API's fields
FLAGS = [
    "--aspect-ratio", "16:9",
    "--resolution", "2K",
    "--seed", "7",
    "--negative-prompt", "blurry",
]  # fmt: skip
# (the demo model takes no provider parameters: tests/unit/test_submissions.py has them)
OPTIONS: dict[str, Any] = {
    "aspect_ratio": "16:9",
    "resolution": "2K",
    "seed": 7,
    "negative_prompt": "blurry",
}
TABLE = [
    ["prompt", "aspect_ratio", "seed", "count", "filename"],
    ["a blank row", "", "", "2", ""],
    ["a row of its own", "1:1", "0", "1", "own"],
]


def dry_run_cli(cwd: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBATCH_")}
    env["IMAGEBATCH_PRICES"] = json.dumps({"demo/demo": DEMO_PRICE})  # as the API harness
    done = subprocess.run(
        [sys.executable, "-m", "imagebatch", "run", *args, "--dry-run", "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: answer[key] for key in ("tasks", "planned", "estimate")}


async def test_a_template_gives_the_same_tasks_and_estimate(api: Api, tmp_path: Path) -> None:
    await api.user("ann")
    client = await api.bearer("ann")
    template = "a {animal} in {snow|rain}"
    cli = await asyncio.to_thread(
        dry_run_cli, tmp_path, "--prompt", template, "--var", "animal=cat,dog", "--count", "2",
        *FLAGS,
    )  # fmt: skip
    body = {"prompt": template, "variables": {"animal": ["cat", "dog"]}, "count": 2, **OPTIONS}
    answer = await client.post("/api/batches?dry_run=1", json=body)

    assert answer.status_code == 201, answer.text
    assert comparable(answer.json()) == comparable(cli)
    assert cli["tasks"] == 8 and cli["estimate"]["total"] == 8 * DEMO_PRICE
    assert {t["aspect_ratio"] for t in cli["planned"]} == {"16:9"}


async def test_a_table_gives_the_same_tasks_and_estimate(api: Api, tmp_path: Path) -> None:
    await api.user("ann")
    client = await api.bearer("ann")
    table = tmp_path / "shoes.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(TABLE)
    cli = await asyncio.to_thread(dry_run_cli, tmp_path, str(table), *FLAGS)
    fields = {k: str(v) for k, v in OPTIONS.items()}
    answer = await client.post(
        "/api/batches?dry_run=1",
        data=fields,
        files={"table": ("shoes.csv", table.read_bytes(), "text/csv")},
    )

    assert answer.status_code == 201, answer.text
    assert comparable(answer.json()) == comparable(cli)
    blank, _, own = cli["planned"]
    # the options fill what a row leaves blank; a row's own value wins
    assert (blank["aspect_ratio"], blank["seed"], blank["resolution"]) == ("16:9", 7, "2K")
    assert (own["aspect_ratio"], own["seed"], own["resolution"]) == ("1:1", 0, "2K")


async def test_images_to_edit_give_the_same_tasks_and_estimate(api: Api, tmp_path: Path) -> None:
    await api.user("ann")
    client = await api.bearer("ann")
    folder = tmp_path / "shots"
    folder.mkdir()
    for name, color in (("cat.png", "red"), ("dog.png", "blue")):
        (folder / name).write_bytes(png(color=color))
    cli = await asyncio.to_thread(
        dry_run_cli, tmp_path, str(folder), "--prompt", "make it night", "--count", "2", *FLAGS
    )
    fields = {k: str(v) for k, v in OPTIONS.items()}
    files = [("images", (p.name, p.read_bytes(), "image/png")) for p in sorted(folder.iterdir())]
    answer = await client.post(
        "/api/batches?dry_run=1",
        data={**fields, "prompt": "make it night", "count": "2"},
        files=files,
    )

    assert answer.status_code == 201, answer.text
    assert comparable(answer.json()) == comparable(cli)
    assert [t["filename"] for t in cli["planned"]] == ["cat_edit"] * 2 + ["dog_edit"] * 2
