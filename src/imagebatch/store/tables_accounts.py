"""Tables of the multi-user server: users and their credentials, credits, presets, assets,
webhook deliveries and the workers seen. Same metadata as store/tables.py."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from imagebatch.store.tables import Id, UTCDateTime, images, metadata

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: shown to people; what the user owns is keyed by `id` ("user:<id>", domain/owners.py)
    Column("name", String(100), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    #: "user" or "admin"
    Column("role", String(10), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    #: credits available (micro-units); the ledger is the record, this its running sum
    Column("balance", BigInteger, nullable=False, default=0),
    Column("webhook_url", Text),
    #: HMAC key for this user's webhooks, encrypted with the server's secret key
    Column("webhook_secret", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime),
)

sessions = Table(
    "sessions",
    metadata,
    #: sha256 of the cookie value: a database leak does not leak live sessions
    Column("id", String(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    #: the first characters, to tell tokens apart in a list
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_login_failures_username_at", "username", "at"),
    Index("ix_login_failures_ip_at", "ip", "at"),
)

credit_ledger = Table(
    "credit_ledger",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner", String(100), nullable=False),
    Column("batch_id", Id, ForeignKey("batches.id", ondelete="SET NULL")),
    Column("task_id", Id),
    #: grant, reserve, charge, release (amounts are positive; the kind gives the direction)
    Column("kind", String(10), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("note", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_credit_ledger_owner_id", "owner", "id"),
    Index("ix_credit_ledger_batch", "batch_id", "kind"),
)

presets = Table(
    "presets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("title", String(100), nullable=False),
    Column("content", Text, nullable=False),
    Column("category", String(50), nullable=False, default=""),
    Column("sort_order", Integer, nullable=False, default=0),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

assets = Table(
    "assets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner", String(100), nullable=False),
    Column("image_id", Id, ForeignKey(images.c.id), nullable=False),
    Column("name", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("owner", "image_id"),
)

#: who may see an uploaded or referenced image (outputs are reached through their tasks)
image_access = Table(
    "image_access",
    metadata,
    Column("image_id", Id, ForeignKey(images.c.id, ondelete="CASCADE"), primary_key=True),
    Column("owner", String(100), primary_key=True),
)

provider_keys = Table(
    "provider_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner", String(100), nullable=False),
    Column("provider", String(50), nullable=False),
    #: the user's own API key, encrypted with the server's secret key
    Column("key_encrypted", Text, nullable=False),
    Column("last4", String(4), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("owner", "provider"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("batch_id", Id, ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
    Column("owner", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("event", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    #: pending, delivered, failed
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("response_status", Integer),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_batch", "batch_id"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("running", Integer, nullable=False, default=0),
    Column("version", String(40), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
)
