"""Shared fixtures: a real database (SQLite file, or PostgreSQL) and data folder per test,
the real app around it.

Every test that asks for `database_url` (through `settings` or `app`, or directly) runs twice:
[sqlite] and [postgresql]. PostgreSQL tests skip when the server is unreachable, unless
IMAGEBATCH_TEST_REQUIRE_POSTGRES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imagebatch.app import App, build_app
from imagebatch.config import Settings
from imagebatch.providers.demo import DemoProvider
from tests.services import (
    REQUIRE_POSTGRES,
    PostgresUnavailable,
    S3Server,
    SessionDatabase,
    s3_server,
)


class ManualClock:
    """A clock the test moves by hand, to expire leases without waiting."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def postgres() -> Iterator[SessionDatabase]:
    """This session's own PostgreSQL database, migrated once (made only if a test needs it)."""
    try:
        database = SessionDatabase()
    except PostgresUnavailable as error:
        if os.environ.get(REQUIRE_POSTGRES) == "1":
            pytest.fail(f"{error} ({REQUIRE_POSTGRES}=1)", pytrace=False)
        pytest.skip(str(error))
    yield database
    database.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """ "" (SQLite in the test's data folder) or the session's PostgreSQL database, emptied."""
    if request.param == "sqlite":
        return ""
    database: SessionDatabase = request.getfixturevalue("postgres")
    return database.fresh()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def blob_settings() -> dict[str, object]:
    """Storage settings; a module overrides this to run its tests on S3 as well (below)."""
    return {}


def local_or_s3(request: pytest.FixtureRequest) -> dict[str, object]:
    """For a `blob_settings` override with params ["local", "s3"]: S3 gets a new bucket."""
    if request.param == "local":
        return {}
    server: S3Server = request.getfixturevalue("s3")
    return server.settings(server.new_bucket())


@pytest.fixture
def settings(tmp_path: Path, database_url: str, blob_settings: dict[str, object]) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        retry_base_delay=0.0,
        retry_max_delay=0.0,
        concurrency=3,
        **blob_settings,  # type: ignore[arg-type]
    )


@pytest.fixture
def demo() -> DemoProvider:
    return DemoProvider()


@pytest.fixture
async def app(settings: Settings, demo: DemoProvider) -> AsyncIterator[App]:
    built = await build_app(settings, providers={"demo": demo})
    yield built
    await built.close()
