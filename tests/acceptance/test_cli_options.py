"""`imagebatch run` flags shape a table's tasks as the API's options do, and only the flags
that shape the tasks decide whether a run is resumed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image

from tests.acceptance.conftest import Cli


def write_table(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [["prompt", "aspect_ratio", "filename"], ["blank", "", "blank"], ["own", "1:1", "own"]]
        )
    return path


def test_aspect_ratio_flag_fills_a_tables_blank_ratio_cells(cli: Cli) -> None:
    """Regression: the flag was ignored for tables (1024×1024 out)."""
    table = write_table(cli.cwd / "t.csv")
    result = cli.run("run", str(table), "--aspect-ratio", "16:9", "--out", "out")
    assert result.returncode == 0, result.stderr

    with Image.open(cli.cwd / "out" / "blank.jpg") as image:
        assert image.size == (1024, 576)
    with Image.open(cli.cwd / "out" / "own.jpg") as image:  # the row's own ratio wins
        assert image.size == (1024, 1024)


def test_a_bad_flag_is_refused_for_a_table_too(cli: Cli) -> None:
    table = write_table(cli.cwd / "t.csv")
    result = cli.run("run", str(table), "--aspect-ratio", "5:4", "--dry-run")
    assert result.returncode == 2
    assert "--aspect-ratio" in result.stderr and "16:9" in result.stderr


def test_resume_fingerprint_holds_what_shapes_the_tasks(cli: Cli) -> None:
    table = write_table(cli.cwd / "t.csv")
    first = cli.run("run", str(table), "--out", "out")
    assert first.returncode == 0, first.stderr

    # --count and --prompt do not shape a table's tasks: the same run, resumed
    same = cli.run("run", str(table), "--out", "out", "--count", "3", "--prompt", "x")
    assert "Resuming batch 1" in same.stdout, same.stdout
    # a ratio for the blank row is another batch
    other = cli.run("run", str(table), "--out", "out", "--aspect-ratio", "16:9")
    assert other.returncode == 0, other.stderr
    assert "Batch 2:" in other.stdout and "Resuming" not in other.stdout


def test_dry_run_json_lists_the_tasks(cli: Cli) -> None:
    result = cli.run("run", "--prompt", "a {cat|dog}", "--seed", "3", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["tasks"] == 2
    assert [(t["prompt"], t["seed"]) for t in answer["planned"]] == [("a cat", 3), ("a dog", 3)]

    alone = cli.run("run", "--prompt", "a cat", "--json")
    assert alone.returncode == 2 and "--dry-run" in alone.stderr
