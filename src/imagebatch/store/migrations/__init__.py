"""Alembic migrations; `upgrade(url)` applies them (by `imagebatch db upgrade`), and
`migrate_if_due(url)` at start, which imports Alembic only when the database is behind."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from imagebatch.store.db import migration_engine

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent
#: the newest revision in versions/ (a unit test holds it to Alembic's own head): a database
#: at this revision needs nothing, so start-up skips Alembic and its 0.2 s import
HEAD_REVISION = "0009"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    # Migrations are blocking I/O; keep them off the event loop.
    await asyncio.to_thread(upgrade, url, revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at (Alembic's own table, read with SQLAlchemy alone);
    None for a database Alembic has not touched yet."""
    engine = migration_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no alembic_version table: a new database
        return None
    finally:
        engine.dispose()


def migrate_if_due(url: str) -> bool:
    """Bring the database to the head revision unless it is there already; whether it ran."""
    if current_revision(url) == HEAD_REVISION:
        return False
    upgrade(url)
    return True


async def migrate_if_due_async(url: str) -> bool:
    return await asyncio.to_thread(migrate_if_due, url)
