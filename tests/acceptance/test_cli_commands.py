"""The smaller commands: status, retry, cancel, export, providers, db upgrade, TOML config."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.acceptance.conftest import Cli

# Each test starts several real `imagebatch` processes (about a second each to import).
pytestmark = pytest.mark.timeout(120)


def test_status_retry_cancel_and_export(cli: Cli) -> None:
    args = ("run", "--prompt", "{x}", "--var", "x=fine,[demo:invalid] bad", "--out", "o")
    assert cli.run(*args).returncode == 1

    listing = cli.run("status")
    assert listing.returncode == 0 and "completed_with_failures" in listing.stdout
    detail = cli.run("status", "1")
    assert "failed: 1" in detail.stdout and "refused the parameters" in detail.stdout

    retried = cli.run("retry", "1")
    assert retried.returncode == 1 and "1 task(s) back in the queue" in retried.stdout
    assert cli.query("select count(*) from attempts") == [(3,)]

    refused = cli.run("cancel", "1")
    assert refused.returncode == 2
    assert "cannot go from completed_with_failures to cancelled" in " ".join(refused.stderr.split())

    assert cli.run("export", "1", "r.csv").returncode == 0
    rows = list(csv.DictReader(io.StringIO((cli.cwd / "r.csv").read_text("utf-8-sig"))))
    assert [r["status"] for r in rows] == ["succeeded", "failed"]
    assert rows[0]["file"].endswith(".jpg") and rows[0]["file"].startswith("o/")

    assert cli.run("export", "1", "r.xlsx").returncode == 0
    sheet = load_workbook(cli.cwd / "r.xlsx").worksheets[0]
    assert sheet.max_row == 3
    assert cli.run("export", "1", "r.pdf").returncode == 2


def test_missing_batch_is_a_clear_error(cli: Cli) -> None:
    result = cli.run("cancel", "42")
    assert result.returncode == 2 and "no batch 42" in result.stderr


def test_providers_lists_the_demo(cli: Cli) -> None:
    result = cli.run("providers")
    assert result.returncode == 0 and "demo (default)" in result.stdout


def test_db_upgrade_and_toml_settings(cli: Cli) -> None:
    (cli.cwd / "imagebatch.toml").write_text('data_dir = "elsewhere"\n')
    assert cli.run("db", "upgrade").returncode == 0
    assert (cli.cwd / "elsewhere" / "imagebatch.db").exists()
    cli.env["IMAGEBATCH_DATA_DIR"] = "from-env"  # the environment wins over the file
    assert cli.run("db", "upgrade").returncode == 0
    assert (cli.cwd / "from-env" / "imagebatch.db").exists()


def test_no_input_and_no_prompt_is_invalid(cli: Cli) -> None:
    result = cli.run("run")
    assert result.returncode == 2 and "give a table, a folder or --prompt" in result.stderr


def test_bad_flag_values_are_invalid(cli: Cli) -> None:
    result = cli.run("run", "--prompt", "x", "--aspect-ratio", "5:4")
    assert result.returncode == 2 and "use one of 1:1" in result.stderr


def test_global_concurrency_is_shown_and_set(cli: Cli) -> None:
    assert "Global concurrency: 3" in cli.run("concurrency").stdout
    assert "Global concurrency: 7" in cli.run("concurrency", "7").stdout
    assert cli.query("select value from settings where key='global_concurrency'") == [(7,)]
    assert cli.run("concurrency", "101").returncode == 2


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("IMAGEBATCH_COMFYUI_BASE_URL", "http://a:1,http://b:x", "has a port that is not a number"),
        ("IMAGEBATCH_PROVIDER_RPM", "{bad", "is not valid JSON"),
        ("IMAGEBATCH_CONCURRENCY", "abc", "valid integer"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_it(
    cli: Cli, variable: str, value: str, said: str
) -> None:
    cli.env[variable] = value
    result = cli.run("run", "--prompt", "x")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"Configuration: {variable}") and said in lines[0]
    assert f"(e.g. {variable}=" in lines[0]
