"""The composition root: build_app(settings) wires store, blobs, providers and engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from imagebatch.blobs.base import BlobStore
from imagebatch.blobs.factory import open_blob_store
from imagebatch.config import Settings
from imagebatch.domain.retry import RetryPolicy
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.events import EventBus
from imagebatch.engine.ingest import ImageLimits, Ingestor
from imagebatch.engine.limits import LimitSource
from imagebatch.engine.ratelimit import RateLimits
from imagebatch.engine.service import BatchService
from imagebatch.engine.worker import Worker, WorkerOptions
from imagebatch.providers.base import ImageProvider
from imagebatch.providers.registry import build_providers
from imagebatch.store.batches import BatchRepo
from imagebatch.store.db import Database
from imagebatch.store.images import ImageRepo
from imagebatch.store.migrations import upgrade_async
from imagebatch.store.queue import QueueRepo
from imagebatch.store.settings import SettingsRepo
from imagebatch.store.tasks import TaskRepo


@dataclass
class App:
    settings: Settings
    db: Database
    blobs: BlobStore
    providers: Mapping[str, ImageProvider]
    events: EventBus
    batches: BatchRepo
    tasks: TaskRepo
    queue: QueueRepo
    images: ImageRepo
    runtime_settings: SettingsRepo
    service: BatchService
    clock: Clock
    rate_limits: RateLimits

    def worker(
        self,
        *,
        batch_ids: Sequence[int] | None = None,
        concurrency: int | None = None,
        drain: bool = False,
    ) -> Worker:
        """A worker; `concurrency` overrides the global limit for this worker only."""
        s = self.settings
        limits = LimitSource(
            self.runtime_settings,
            s.concurrency,
            s.provider_concurrency,
            override=concurrency,
            batch_ids=batch_ids,
        )
        options = WorkerOptions(
            capacity=max(concurrency or 0, 100),
            lease_seconds=s.lease_seconds,
            drain=drain,
        )
        retry = RetryPolicy(s.max_attempts, s.retry_base_delay, s.retry_max_delay)
        return Worker(
            self.queue,
            self.images,
            self.blobs,
            self.providers,
            limits,
            retry,
            options=options,
            events=self.events,
            clock=self.clock,
            rate_limits=self.rate_limits,
        )

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.db.dispose()
        self.blobs.close()


async def build_app(
    settings: Settings,
    *,
    providers: Mapping[str, ImageProvider] | None = None,
    clock: Clock = utc_now,
    migrate: bool = True,
) -> App:
    url = settings.resolved_database_url
    if migrate:
        await upgrade_async(url)
    db = Database(url)
    blobs = open_blob_store(settings)
    events = EventBus()
    images = ImageRepo(db)
    queue = QueueRepo(db)
    batches = BatchRepo(db)
    tasks = TaskRepo(db)
    chosen = providers if providers is not None else build_providers(settings)
    limits = ImageLimits(
        settings.max_image_bytes,
        settings.max_image_pixels,
        settings.url_fetch_timeout,
        settings.allow_private_urls,
    )
    ingestor = Ingestor(images, blobs, limits, clock)
    service = BatchService(
        batches, tasks, queue, ingestor, chosen, events, clock, prices=settings.prices
    )
    return App(
        settings=settings,
        db=db,
        blobs=blobs,
        providers=chosen,
        events=events,
        batches=batches,
        tasks=tasks,
        queue=queue,
        images=images,
        runtime_settings=SettingsRepo(db),
        service=service,
        clock=clock,
        rate_limits=RateLimits(settings.provider_rpm),
    )
