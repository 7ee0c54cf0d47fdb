"""index images.thumbnail_key, for the sweep that removes orphan objects

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 12:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_images_thumbnail_key", "images", ["thumbnail_key"])


def downgrade() -> None:
    op.drop_index("ix_images_thumbnail_key", table_name="images")
