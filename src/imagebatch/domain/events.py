"""What a progress event is about: the kinds the engine publishes and every listener tells
apart (workers, webhooks, SSE feeds, other processes through the relay)."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    TASK = "task"  #: a task changed state
    BATCH = "batch"  #: a batch changed state (a pause)
    SUBMITTED = "submitted"  #: a batch was created: there is new work
    RESUMED = "resumed"  #: a paused batch runs again
    RETRIED = "retried"  #: failed tasks (of a batch, or one) are pending again
    CANCELLED = "cancelled"  #: a batch was cancelled: abandon its calls
    DELETED = "deleted"  #: a batch was deleted
    SETTINGS = "settings"  #: run-time settings changed: re-read the limits
    ECONOMY = "economy"  #: an economy batch's provider job changed state
