"""How one attempt of a task ended: the vocabulary of the attempts table's `outcome` column."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AttemptOutcome(StrEnum):
    SUCCEEDED = "succeeded"  #: the provider answered and the output was stored
    RETRY = "retry"  #: a retryable error; the task waits for its next attempt
    FAILED = "failed"  #: a final error, or the last attempt's error
    LOST = "lost"  #: the worker stopped answering and its lease expired
    CANCELLED = "cancelled"  #: the batch was cancelled while the attempt ran
    RELEASED = "released"  #: the worker gave the task back unfinished (a stop); not spent


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """How one attempt ended, for the attempts table."""

    outcome: AttemptOutcome
    latency_ms: float
    error_kind: str | None = None
    error_message: str | None = None
    provider_request_id: str | None = None
