"""Start-up migrates only a database that is behind, and sees that without Alembic."""

from __future__ import annotations

from pathlib import Path

from imagebatch.config import Settings
from imagebatch.store.migrations import (
    HEAD_REVISION,
    current_revision,
    migrate_if_due,
    upgrade,
)


def test_a_migrated_database_is_left_alone(settings: Settings) -> None:
    url = settings.resolved_database_url
    migrate_if_due(url)
    assert current_revision(url) == HEAD_REVISION
    assert migrate_if_due(url) is False


def test_a_new_database_is_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert current_revision(url) is None
    assert migrate_if_due(url) is True
    assert current_revision(url) == HEAD_REVISION


def test_a_database_behind_is_brought_to_the_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0007")
    assert current_revision(url) == "0007"
    assert migrate_if_due(url) is True
    assert current_revision(url) == HEAD_REVISION
