"""`imagebatch run` as a user runs it: tables, folders, templates, exit codes, resuming."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest
from PIL import Image

from tests.acceptance.conftest import Cli

# Each test starts several real `imagebatch` processes (about a second each to import).
pytestmark = pytest.mark.timeout(120)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_table_becomes_named_images_with_manifest(cli: Cli) -> None:
    table = write_csv(
        cli.cwd / "shoes.csv",
        ["提示词", "图片比例", "分辨率", "生成数量", "文件名"],
        [["红色运动鞋", "16:9", "1k", "2", "red"], ["blue boot", "1:1", "", "1", "../../evil"]],
    )
    result = cli.run("run", str(table), "--out", "out")
    assert result.returncode == 0, result.stderr

    out = cli.cwd / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "evil.jpg",
        "manifest.csv",
        "red_1.jpg",
        "red_2.jpg",
    ]
    with Image.open(out / "red_1.jpg") as image:
        assert image.size == (1024, 576)
    # one copy on disk: the folder's files are the stored images' own (hard links)
    assert (out / "red_1.jpg").stat().st_nlink == 2
    assert "Output files: 3 hard-linked (no second copy on disk)" in result.stdout
    rows = list(csv.DictReader((out / "manifest.csv").read_text("utf-8-sig").splitlines()))
    assert [r["status"] for r in rows] == ["succeeded"] * 3
    assert rows[0]["prompt"] == "红色运动鞋" and rows[0]["source"] == "row 2"

    shown = cli.run("inspect", str(out / "red_1.jpg"))
    assert shown.returncode == 0 and "红色运动鞋" in shown.stdout and '"demo"' in shown.stdout


def test_invalid_table_reports_every_problem_and_enqueues_nothing(cli: Cli) -> None:
    table = write_csv(
        cli.cwd / "bad.csv",
        ["prompt", "aspect_ratio", "colour"],
        [["ok", "1:1", "x"], ["", "7:5", "y"]],
    )
    result = cli.run("run", str(table))
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "colour" in message and "row 3" in message and "7:5" in message
    assert cli.query("select count(*) from tasks") == [(0,)]


def test_image_folder_skips_bad_files_and_edits_the_rest(cli: Cli) -> None:
    folder = cli.cwd / "photos"
    folder.mkdir()
    Image.new("RGB", (64, 48), "red").save(folder / "a.png")
    Image.new("RGB", (40, 40), "blue").save(folder / "b.webp")
    (folder / "notes.png").write_text("not an image")

    result = cli.run("run", str(folder), "--prompt", "make it sepia", "--out", "edited")
    assert result.returncode == 1  # not everything asked for was produced
    assert "notes.png" in result.stderr
    produced = sorted(p.name for p in (cli.cwd / "edited").glob("*.jpg"))
    assert produced == ["a_edit.jpg", "b_edit.jpg"]


def test_template_expands_and_failures_set_exit_code(cli: Cli) -> None:
    result = cli.run(
        "run",
        "--prompt",
        "a {animal} in {snow|rain}",
        "--var",
        "animal=cat,dog",
        "--out",
        "t",
    )
    assert result.returncode == 0, result.stderr
    assert len(list((cli.cwd / "t").glob("*.jpg"))) == 4

    failing = cli.run("run", "--prompt", "[demo:reject] {x}", "--var", "x=1,2", "--out", "f")
    assert failing.returncode == 1
    assert "imagebatch retry" in failing.stdout


def test_killed_run_resumes_without_redoing_finished_images(cli: Cli) -> None:
    cli.env["IMAGEBATCH_DEMO_LATENCY_MS"] = "150"
    args = (
        "run",
        "--prompt",
        "tile {n}",
        "--var",
        "n=" + ",".join(map(str, range(16))),
        "--concurrency",
        "2",
        "--out",
        "tiles",
    )
    first = cli.start(*args)
    # kill it with some images finished and others inside the provider
    cli.wait_for(
        lambda: (
            cli.query(
                "select sum(status='succeeded') >= 4 and sum(status='running') > 0 from tasks"
            )[0][0]
            == 1
        )
    )
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished_before = cli.query("select id, finished_at from tasks where status='succeeded'")
    assert cli.query("select count(*) from tasks where status='running'")[0][0] > 0

    second = cli.run(*args)
    assert second.returncode == 0, second.stderr
    assert "Resuming batch" in second.stdout
    assert cli.query("select count(*) from batches") == [(1,)]
    assert cli.query("select count(*) from attempts where outcome='succeeded'") == [(16,)]
    still = dict(cli.query("select id, finished_at from tasks where status='succeeded'"))
    assert all(still[task_id] == at for task_id, at in finished_before)
    assert len(list((cli.cwd / "tiles").glob("*.jpg"))) == 16


def test_ctrl_c_hands_running_tasks_back(cli: Cli) -> None:
    cli.env["IMAGEBATCH_DEMO_LATENCY_MS"] = "300"
    args = ("run", "--prompt", "wave {n}", "--var", "n=1,2,3,4,5,6", "--out", "w")
    first = cli.start(*args)
    cli.wait_for(lambda: cli.query("select count(*) from tasks where status='running'")[0][0] > 0)
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=20) == 130
    assert cli.query("select count(*) from tasks where status='running'") == [(0,)]
    assert cli.run(*args).returncode == 0


def test_template_command_writes_a_table_that_runs(cli: Cli) -> None:
    assert cli.run("template", "t.xlsx", "--lang", "zh").returncode == 0
    result = cli.run("run", "t.xlsx", "--out", "from-template")
    assert result.returncode == 0, result.stderr
    assert (cli.cwd / "from-template" / "manifest.csv").exists()


def test_cancel_from_another_process_stops_a_running_batch(cli: Cli) -> None:
    args = ("run", "--prompt", "[demo:hang] {n}", "--var", "n=1,2,3,4", "--out", "h")
    first = cli.start(*args)
    cli.wait_for(lambda: cli.query("select count(*) from tasks where status='running'")[0][0] > 0)
    assert cli.run("cancel", "1").returncode == 0
    assert first.wait(timeout=20) == 1  # its calls were abandoned; the batch ended cancelled
    assert cli.query("select status, cancelled from batches") == [("cancelled", 4)]
