"""tasks.user_prompt: the prompt as the user wrote it, before a preset's text went in front

Edit cards show the user's own words; `prompt` stays what the provider was sent. Tasks made
before it have none recorded (NULL): clients show `prompt` instead.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("user_prompt", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("user_prompt")
