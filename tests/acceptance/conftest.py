"""Run the real `imagebatch` command in a subprocess, in a scratch folder."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.waiting import wait_until


@dataclass
class Cli:
    cwd: Path
    env: dict[str, str]

    def run(
        self, *args: str, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "imagebatch", *args],
            cwd=self.cwd,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "imagebatch", *args],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def query(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.cwd / "imagebatch-data" / "imagebatch.db") as conn:
            return conn.execute(sql).fetchall()

    def wait_for(
        self,
        condition: Callable[[], bool],
        timeout: float = 20,
        awaiting: str = "the state the test expects in the CLI's database",
    ) -> None:
        """Poll the database until `condition` holds (state written by another process)."""
        wait_until(lambda: self._holds(condition), awaiting=awaiting, timeout=timeout)

    @staticmethod
    def _holds(condition: Callable[[], bool]) -> bool:
        try:
            return condition()
        except sqlite3.OperationalError:  # the other process has not created the database yet
            return False


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBATCH_")}
    env["COLUMNS"] = "120"
    return Cli(tmp_path, env)
