"""`imagebatch --help`, `imagebatch status` and a small `imagebatch run` start in a blink only
while the CLI imports nothing heavy up front: the web stack when serving, Alembic when a
migration is due, a provider's SDK when that provider runs, an HTTP client when a URL is
fetched (issue 17). Checked by what gets imported, not by a clock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from imagebatch.store.migrations import HEAD_REVISION, alembic_config, upgrade

HEAVY = (
    "fastapi",
    "alembic",
    "openai",
    "google.genai",
    "boto3",
    "volcengine",
    "uvicorn",
    "starlette",
    "jinja2",
    "sse_starlette",
)
#: what `imagebatch run` loads only where it is used: URL fetching and webhooks (httpx), the
#: providers' SDK clients, PostgreSQL's dialect, encryption of stored secrets, accounts
ONLY_WHERE_USED = (
    "httpx",
    "httpcore",
    "httpx2",
    "sqlalchemy.dialects.postgresql",
    "cryptography",
    "argon2",
    "imagebatch.engine.accounts.service",
    "imagebatch.engine.webhooks",
    "imagebatch.engine.library",
)


def imported_modules(*python_args: str, cwd: Path | None = None) -> set[str]:
    """Every module a fresh interpreter imports to run `python -X importtime <args>`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBATCH_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *python_args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (line for line in done.stderr.splitlines() if line.startswith("import time:"))
    return {line.rsplit("|", 1)[-1].strip() for line in lines}


def heavy_among(modules: set[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if m in heavy or m.startswith(tuple(f"{h}." for h in heavy)))


def test_importing_the_cli_imports_nothing_heavy() -> None:
    modules = imported_modules("-c", "import imagebatch.cli.main")
    assert "imagebatch.cli.main" in modules  # the listing is real
    assert heavy_among(modules) == []


def test_status_on_an_up_to_date_database_skips_alembic(tmp_path: Path) -> None:
    upgrade(f"sqlite:///{tmp_path / 'imagebatch-data' / 'imagebatch.db'}")
    modules = imported_modules("-m", "imagebatch", "status", cwd=tmp_path)
    assert "imagebatch.store.batches" in modules  # it did read the database
    assert heavy_among(modules, HEAVY + ONLY_WHERE_USED) == []
    assert "imagebatch.app" not in modules  # status reads the database, it builds no engine


def test_a_prompt_only_run_on_sqlite_loads_only_what_it_uses(tmp_path: Path) -> None:
    upgrade(f"sqlite:///{tmp_path / 'imagebatch-data' / 'imagebatch.db'}")
    args = ("-m", "imagebatch", "run", "--prompt", "a {cat|dog}", "--out", "out")
    modules = imported_modules(*args, cwd=tmp_path)
    assert "imagebatch.engine.worker.loop" in modules  # it did run the batch
    assert len(list((tmp_path / "out").glob("0000*"))) == 2  # to the end
    assert heavy_among(modules, HEAVY + ONLY_WHERE_USED) == []


def test_the_head_revision_constant_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_current_head() == HEAD_REVISION
