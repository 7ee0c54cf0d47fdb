"""Table definitions (SQLAlchemy Core). Alembic migrations must produce exactly these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT identities.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

images = Table(
    "images",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("mime", String(40), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("storage_key", String(200), nullable=False),
    Column("thumbnail_key", String(200)),
    #: "input" (uploaded or referenced) or "output" (generated)
    Column("kind", String(10), nullable=False),
    Column("original_name", Text),
    #: lineage: the image this one was made from (edits)
    Column("parent_image_id", Id, ForeignKey("images.id")),
    Column("created_at", UTCDateTime, nullable=False),
    # the orphan sweep asks which stored objects are some image's thumbnail
    Index("ix_images_thumbnail_key", "thumbnail_key"),
)

batches = Table(
    "batches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("owner", String(100), nullable=False),
    Column("mode", String(10), nullable=False),
    Column("provider", String(50), nullable=False),
    Column("model", String(100), nullable=False),
    Column("params", JSON, nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("status", String(30), nullable=False),
    Column("total", Integer, nullable=False),
    Column("succeeded", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("cancelled", Integer, nullable=False, default=0),
    #: identifies "the same command again" so `imagebatch run` resumes instead of duplicating
    Column("fingerprint", String(64), index=True),
    Column("out_dir", Text),
    #: POSTed (signed) when the batch ends; the owner's default when the request named none
    Column("webhook_url", Text),
    #: submitted as one discounted provider batch job instead of task by task
    Column("economy", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    #: a name the service gave ("13 images"), as a code and its numbers, so that pages can
    #: show it in their reader's language; NULL: the user named it (domain/batch_names.py)
    Column("name_code", String(40)),
    Column("name_params", JSON),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("batch_id", Id, ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
    #: copied from the batch so the claim query needs no join to be fair and ordered
    Column("owner", String(100), nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("provider", String(50), nullable=False),
    Column("model", String(100), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("prompt", Text, nullable=False),
    #: the prompt as the user wrote it, before a preset's text went in front (edit batches);
    #: NULL where `prompt` is all theirs or it was not recorded
    Column("user_prompt", Text),
    Column("negative_prompt", Text),
    Column("aspect_ratio", String(8)),
    Column("resolution", String(4)),
    Column("seed", BigInteger),
    #: the seed the provider really used, recorded with the output (the seed above is the
    #: user's, part of the request key; this one may be derived or narrowed to a range)
    Column("seed_used", BigInteger),
    Column("variant", Integer, nullable=False, default=0),
    Column("params", JSON, nullable=False),
    Column("input_image_id", Id, ForeignKey("images.id")),
    Column("reference_image_ids", JSON, nullable=False),
    Column("output_filename", String(255), nullable=False),
    Column("source", String(200)),
    #: hash of everything that determines the output, for --reuse
    Column("request_key", String(64), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    #: leases lost to dead workers; a task that keeps killing workers eventually fails
    Column("lost_leases", Integer, nullable=False, default=0),
    Column("not_before", UTCDateTime),
    Column("lease_owner", String(100)),
    Column("lease_until", UTCDateTime),
    Column("error_kind", String(50)),
    Column("error_message", Text),
    Column("output_image_id", Id, ForeignKey("images.id")),
    Column("reused", Integer, nullable=False, default=0),
    #: credits (micro-units) reserved for this task; 0 when free (demo, reuse, own API key)
    Column("price", BigInteger, nullable=False, default=0),
    #: the call uses the owner's own API key for its provider (BYOK), not the server's
    Column("own_key", Boolean, nullable=False, default=False),
    #: removed from the owner's history (the row stays for counters and the ledger)
    Column("deleted_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Index("ix_tasks_batch_status", "batch_id", "status"),
    #: a batch's tasks in order, a page at a time (the tasks endpoint, exports)
    Index("ix_tasks_batch_id", "batch_id", "id"),
    Index("ix_tasks_lease", "status", "lease_until"),
    Index("ix_tasks_output_image", "output_image_id"),
    Index("ix_tasks_input_image", "input_image_id"),
    Index("ix_tasks_owner", "owner", "id"),
)

# The claim walks this index in order: an owner's pending tasks by priority, then age.
Index("ix_tasks_claim", tasks.c.status, tasks.c.owner, tasks.c.priority.desc(), tasks.c.id)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("task_id", Id, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("worker_id", String(100), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("latency_ms", Float),
    #: an AttemptOutcome (domain/attempts.py); NULL while the attempt runs
    Column("outcome", String(20)),
    Column("error_kind", String(50)),
    Column("error_message", Text),
    Column("provider_request_id", String(200)),
)

#: when each owner was last given a slot, so owners with equal load take turns
owner_turns = Table(
    "owner_turns",
    metadata,
    Column("owner", String(100), primary_key=True),
    Column("turn", BigInteger, nullable=False),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSON, nullable=False),
)

#: economy mode: one provider batch job running some of a batch's tasks
provider_jobs = Table(
    "provider_jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("batch_id", Id, ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
    Column("provider", String(50), nullable=False),
    Column("model", String(100), nullable=False),
    #: travels with the provider's job, to find it again after a crash before we recorded it
    Column("marker", String(100), nullable=False, unique=True),
    #: which of the provider's keys owns the job: a hash, never the key
    Column("key_ref", String(64)),
    Column("external_id", String(200)),
    #: submitting, running, then succeeded, failed, expired or cancelled
    Column("status", String(20), nullable=False),
    Column("task_ids", JSON, nullable=False),
    #: the runner looking after the job, until when (another takes over after that)
    Column("runner_id", String(100)),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("submitted_at", UTCDateTime),
    Column("polled_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
    Index("ix_provider_jobs_status", "status"),
    Index("ix_provider_jobs_batch", "batch_id"),
)
