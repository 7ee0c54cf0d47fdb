"""economy mode: provider batch jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from imagebatch.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("marker", sa.String(length=100), nullable=False),
        sa.Column("key_ref", sa.String(length=64), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("task_ids", sa.JSON(), nullable=False),
        sa.Column("runner_id", sa.String(length=100), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("polled_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_provider_jobs_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_jobs")),
        sa.UniqueConstraint("marker", name=op.f("uq_provider_jobs_marker")),
    )
    with op.batch_alter_table("provider_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_provider_jobs_batch", ["batch_id"], unique=False)
        batch_op.create_index("ix_provider_jobs_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("provider_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_jobs_status")
        batch_op.drop_index("ix_provider_jobs_batch")
    op.drop_table("provider_jobs")
