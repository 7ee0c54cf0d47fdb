"""batches.name_code, batches.name_params: a name the service gave, as a code and its numbers

Pages show "13 images" / "13 张图片" from them in the reader's language. Batches made before
it have none (NULL): their name is shown as stored, as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 17:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("batches", sa.Column("name_code", sa.String(length=40), nullable=True))
    op.add_column("batches", sa.Column("name_params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("name_params")
        batch.drop_column("name_code")
