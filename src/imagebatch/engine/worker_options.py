"""How a worker runs, and how it names itself."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

HEARTBEAT_SECONDS = 2.0
#: after a failed look for work (the database unreachable), wait this long, doubling up to
#: ERROR_BACKOFF_MAX_SECONDS while the failures go on
ERROR_BACKOFF_SECONDS = 0.5
ERROR_BACKOFF_MAX_SECONDS = 15.0


def new_worker_id() -> str:
    """host:pid:nonce — the host and pid let a restarted CLI spot its own dead predecessors."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    #: most tasks this worker runs at once (the database limits apply on top)
    capacity: int = 100
    lease_seconds: float = 60.0
    #: longest idle wait before looking for work again (events usually wake us sooner)
    poll_seconds: float = 1.0
    #: stop once the scoped batches have no pending or running task left
    drain: bool = False
    #: on stop, let running calls finish for this long before handing the rest back
    grace_seconds: float = 0.0
    #: tasks to claim ahead of a free slot (engine/worker/call_gate.py); None: as many as cover
    #: the call ends expected during a claim's round trip (none when calls take seconds)
    claim_ahead: int | None = None
