"""Shared fixtures: a real SQLite file and data folder per test, the real app around it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imagebatch.app import App, build_app
from imagebatch.config import Settings
from imagebatch.providers.demo import DemoProvider


class ManualClock:
    """A clock the test moves by hand, to expire leases without waiting."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        retry_base_delay=0.0,
        retry_max_delay=0.0,
        concurrency=3,
    )


@pytest.fixture
def demo() -> DemoProvider:
    return DemoProvider()


@pytest.fixture
async def app(settings: Settings, demo: DemoProvider) -> AsyncIterator[App]:
    built = await build_app(settings, providers={"demo": demo})
    yield built
    await built.close()
