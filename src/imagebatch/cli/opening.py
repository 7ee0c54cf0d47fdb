"""What a command opens before it runs: the whole app, or only the database.

Start-up is most of a short command's time, so each opens no more than it uses: `status`
reads two tables and needs neither the engine nor a provider nor the blob store. Both open
through here lazily, so importing the CLI (and `imagebatch --help`) costs neither.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagebatch.app import App
    from imagebatch.config import Settings
    from imagebatch.store.batches import BatchRepo
    from imagebatch.store.db import Database
    from imagebatch.store.tasks import TaskRepo


@asynccontextmanager
async def full_app() -> AsyncIterator[App]:
    """The composition root, as the server builds it (migrated if due), closed afterwards."""
    from imagebatch.app import build_app
    from imagebatch.settings_loader import load_settings

    app = await build_app(load_settings())
    settled()
    try:
        yield app
    finally:
        await app.close()


@dataclass
class Local:
    """The database and the repositories a read-only command uses, nothing else."""

    settings: Settings
    db: Database
    batches: BatchRepo
    tasks: TaskRepo


@asynccontextmanager
async def local_store() -> AsyncIterator[Local]:
    """The configured database (migrated if due, as build_app does) without the engine."""
    from imagebatch.settings_loader import load_settings
    from imagebatch.store.batches import BatchRepo
    from imagebatch.store.db import Database
    from imagebatch.store.migrations import migrate_if_due_async
    from imagebatch.store.tasks import TaskRepo

    settings = load_settings()
    url = settings.resolved_database_url
    await migrate_if_due_async(url)
    db = Database(url)
    settled()
    try:
        yield Local(settings, db, BatchRepo(db), TaskRepo(db))
    finally:
        await db.dispose()


def settled() -> None:
    """Start-up is over: what it made stays for good, so it leaves the garbage collector's
    passes (frozen), and the collector, off while starting (cli.main.main), runs again.
    Nothing to do where nobody turned it off (a test calling a command in its process)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
