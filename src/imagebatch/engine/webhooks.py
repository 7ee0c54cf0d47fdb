"""Sending webhook deliveries: signed JSON POSTs, retried with backoff, logged per attempt.

Signature (what a receiver checks): header `X-Imagebatch-Signature: v1=<hex>` where hex is
HMAC-SHA256 over `<X-Imagebatch-Timestamp>.<raw body>` keyed with the user's webhook secret.
Receivers should also refuse timestamps more than a few minutes old (replays).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from imagebatch.domain.events import EventKind
from imagebatch.domain.owners import user_id_of
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.events import EventBus
from imagebatch.engine.secrets import SecretBox
from imagebatch.errors import InputError, NotFound
from imagebatch.imaging.fetch import check_public_url
from imagebatch.imaging.outbound import (
    AddressRefused,
    OutboundPolicy,
    Resolver,
    outbound_client,
    system_resolver,
)
from imagebatch.store.users import UserRepo
from imagebatch.store.webhooks import Delivery, WebhookRepo

if TYPE_CHECKING:  # imported when a webhook is sent: a command that sends none skips httpx
    import httpx

log = logging.getLogger(__name__)

BATCH_SIZE = 20
MAX_BACKOFF = 3600.0


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def backoff(attempts: int, first: float = 10.0) -> float:
    """Seconds before the next try: 10 s, 20 s, 40 s … at most an hour."""
    return min(MAX_BACKOFF, first * 2.0 ** (attempts - 1))


class WebhookSecrets:
    """Each user's signing secret, kept encrypted; made on first need."""

    def __init__(self, users: UserRepo, box: SecretBox) -> None:
        self.users = users
        self.box = box

    async def of(self, user_id: int) -> str:
        sealed = await self.users.webhook_secret(user_id)
        if sealed:
            return self.box.open(sealed)
        await self.users.get(user_id)  # NotFound for an account that does not exist
        return await self.rotate(user_id)

    async def rotate(self, user_id: int) -> str:
        secret = "whsec_" + secrets.token_urlsafe(32)
        await self.users.update(user_id, webhook_secret=self.box.seal(secret))
        return secret


class WebhookDispatcher:
    def __init__(
        self,
        repo: WebhookRepo,
        secrets_: WebhookSecrets,
        clock: Clock = utc_now,
        *,
        timeout: float = 10.0,
        max_attempts: int = 8,
        allow_private: bool = False,
        poll_seconds: float = 1.0,
        retry_delay: float = 10.0,
        events: EventBus | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.resolver = resolver
        self.retry_delay = retry_delay
        self.events = events
        #: the earliest retry this dispatcher scheduled, so it wakes up for it on time
        self._next_retry: float | None = None
        self.repo = repo
        self.secrets = secrets_
        self.clock = clock
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.allow_private = allow_private
        self.poll_seconds = poll_seconds

    async def run(self, stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        listener = asyncio.create_task(self._listen(wake)) if self.events else None
        try:
            async with self.client() as client:
                while not stop.is_set():
                    wake.clear()
                    try:
                        sent = await self.send_due(client)
                    except Exception:  # a database hiccup must not end deliveries for good
                        log.exception("webhook dispatch failed; trying again shortly")
                        sent = 0
                    if not sent:
                        await _wait_any(stop, wake, self._pause())
        finally:
            if listener:
                listener.cancel()

    def client(self) -> httpx.AsyncClient:
        """The client send_due expects: it connects only to addresses that pass the check
        (a receiver's name that resolved to a public address at the check and to an internal
        one a moment later is refused, not reached)."""
        policy = OutboundPolicy(self.allow_private, self.resolver)
        return outbound_client(policy, self.timeout)

    def _pause(self) -> float:
        """Until the next poll, or sooner when a retry we scheduled falls due."""
        if self._next_retry is None:
            return self.poll_seconds
        due_in = self._next_retry - time.monotonic()
        if due_in <= 0:
            self._next_retry = None
        return max(0.0, min(self.poll_seconds, due_in))

    async def _listen(self, wake: asyncio.Event) -> None:
        """Batches end when their last task ends or they are cancelled: look then."""
        assert self.events is not None
        async with self.events.subscribe() as queue:
            while True:
                event = await queue.get()
                if event.kind == EventKind.CANCELLED or event.status in {"succeeded", "failed"}:
                    wake.set()

    async def send_due(self, client: httpx.AsyncClient) -> int:
        lease = timedelta(seconds=self.timeout * 2 + 5)
        due = await self.repo.claim_due(self.clock(), BATCH_SIZE, lease)
        await asyncio.gather(*(self._send(client, delivery) for delivery in due))
        return len(due)

    async def _send(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        import httpx

        status: int | None = None
        try:
            await check_public_url(
                delivery.url, "webhook", allow_private=self.allow_private, resolver=self.resolver
            )
            body = _body(delivery)
            headers = await self._headers(delivery, body)
            response = await client.post(delivery.url, content=body, headers=headers)
            status = response.status_code
            error = None if response.is_success else f"HTTP {status}"
        except InputError as refused:  # a private address: trying again will not help
            await self._finish(delivery, "failed", None, refused.issues[0].problem)
            return
        except AddressRefused as refused:  # found where the connection is made
            if refused.kind == "refused":
                await self._finish(delivery, "failed", None, str(refused))
                return
            error = str(refused)  # a lookup failed: DNS may answer next time
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        if error is None:
            await self._finish(delivery, "delivered", status, None)
        elif delivery.attempts >= self.max_attempts:
            await self._finish(delivery, "failed", status, error)
        else:
            delay = backoff(delivery.attempts, self.retry_delay)
            retry_at = self.clock() + timedelta(seconds=delay)
            soon = time.monotonic() + delay
            self._next_retry = min(self._next_retry or soon, soon)
            await self.repo.record(
                delivery.id,
                status="pending",
                response_status=status,
                error=error,
                next_attempt_at=retry_at,
            )

    async def _finish(
        self, delivery: Delivery, status: str, code: int | None, error: str | None
    ) -> None:
        now = self.clock()
        if status == "failed":
            log.warning("webhook %s to %s failed for good: %s", delivery.id, delivery.url, error)
        await self.repo.record(
            delivery.id,
            status=status,
            response_status=code,
            error=error,
            next_attempt_at=now,
            delivered_at=now if status == "delivered" else None,
        )

    async def _headers(self, delivery: Delivery, body: bytes) -> dict[str, str]:
        timestamp = int(time.time())
        user_id = user_id_of(delivery.owner)
        if user_id is None:  # CLI runs (local owners) have no account, so no secret
            raise NotFound(f"{delivery.owner} has no account to sign webhooks with")
        secret = await self.secrets.of(user_id)
        return {
            "content-type": "application/json",
            "user-agent": "imagebatch-webhook/1",
            "x-imagebatch-event": delivery.event,
            "x-imagebatch-delivery": str(delivery.id),
            "x-imagebatch-timestamp": str(timestamp),
            "x-imagebatch-signature": sign(secret, timestamp, body),
        }


def _body(delivery: Delivery) -> bytes:
    payload = {**delivery.payload, "delivery_id": delivery.id}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
