"""The composition root: build_app(settings) wires store, blobs, providers and engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from imagebatch.blobs.base import BlobStore
from imagebatch.blobs.factory import open_blob_store
from imagebatch.config import Settings
from imagebatch.domain.credits import to_micros
from imagebatch.domain.retry import RetryPolicy
from imagebatch.engine.accounts.own_keys import OwnKeys
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.events import EventBus
from imagebatch.engine.ingest import ImageLimits, Ingestor
from imagebatch.engine.runtime import RuntimeSettingsService
from imagebatch.engine.secrets import SecretBox, load_or_create_key
from imagebatch.engine.service import BatchService
from imagebatch.engine.worker.heartbeat import announce
from imagebatch.engine.worker.limits import LimitSource
from imagebatch.engine.worker.loop import Worker
from imagebatch.engine.worker.ratelimit import RateLimits
from imagebatch.engine.worker_options import WorkerOptions, new_worker_id
from imagebatch.providers.base import ImageProvider
from imagebatch.providers.factories import LazyProviders, build_providers
from imagebatch.store.assets import AssetRepo
from imagebatch.store.batches import BatchRepo
from imagebatch.store.db import Database
from imagebatch.store.history import HistoryRepo
from imagebatch.store.images import ImageRepo
from imagebatch.store.ledger import LedgerRepo
from imagebatch.store.migrations import migrate_if_due_async
from imagebatch.store.presets import PresetRepo
from imagebatch.store.provider_jobs import ProviderJobRepo
from imagebatch.store.provider_keys import ProviderKeyRepo
from imagebatch.store.queue import QueueRepo
from imagebatch.store.settings import SettingsRepo
from imagebatch.store.stats import StatsRepo
from imagebatch.store.tasks import TaskRepo
from imagebatch.store.users import UserRepo
from imagebatch.store.webhooks import WebhookRepo
from imagebatch.store.workers import WorkerRepo

# Imported where used: psycopg's channel where there is one (not on SQLite), and what a CLI
# run never uses (accounts, the library, webhooks, economy mode).
if TYPE_CHECKING:
    from imagebatch.engine.accounts.service import AccountService
    from imagebatch.engine.economy.jobs import EconomyRunner
    from imagebatch.engine.library import Library
    from imagebatch.engine.relay import EventRelay
    from imagebatch.engine.webhooks import WebhookDispatcher, WebhookSecrets


@dataclass
class App:
    #: the configuration read at start (environment, TOML)
    settings: Settings
    db: Database
    blobs: BlobStore
    providers: Mapping[str, ImageProvider]
    events: EventBus
    batches: BatchRepo
    tasks: TaskRepo
    queue: QueueRepo
    images: ImageRepo
    service: BatchService
    clock: Clock
    rate_limits: RateLimits
    users: UserRepo
    ledger: LedgerRepo
    #: settings an admin changes while the server runs (`settings` holds their defaults)
    runtime_settings: RuntimeSettingsService
    secrets: SecretBox
    presets: PresetRepo
    assets: AssetRepo
    history: HistoryRepo
    webhooks: WebhookRepo
    stats: StatsRepo
    ingestor: Ingestor
    own_keys: OwnKeys
    workers: WorkerRepo

    async def run_worker(self, worker: Worker, stop: asyncio.Event) -> None:
        """Run `worker` until `stop`, listed among the workers meanwhile (a heartbeat)."""
        await asyncio.gather(worker.run(stop), announce(worker, self.workers, stop, self.clock))

    provider_jobs: ProviderJobRepo

    # Made at first use: `imagebatch run` has no accounts, keeps no library and sends no
    # webhook, and leaves their modules unloaded (Argon2 among them).
    @cached_property
    def accounts(self) -> AccountService:
        from imagebatch.engine.accounts.service import AccountService

        return AccountService(
            self.users,
            self.clock,
            session_lifetime=timedelta(days=self.settings.session_days),
            initial_credits=to_micros(self.settings.initial_credits),
        )

    @cached_property
    def webhook_secrets(self) -> WebhookSecrets:
        from imagebatch.engine.webhooks import WebhookSecrets

        return WebhookSecrets(self.users, self.secrets)

    @cached_property
    def library(self) -> Library:
        from imagebatch.engine.library import Library

        return Library(self.images, self.history, self.blobs, self.runtime_settings, self.clock)

    def relay(self) -> EventRelay | None:
        """Events to and from other processes (PostgreSQL only; SQLite has no channel)."""
        if self.db.is_sqlite:
            return None
        from imagebatch.engine.relay import EventRelay
        from imagebatch.store.notify import PgChannel

        return EventRelay(self.events, PgChannel(self.db.url))

    async def run_relayed(self, stop: asyncio.Event, *jobs: Callable[[asyncio.Event], Any]) -> None:
        """Run `jobs` until `stop`, with the event relay beside them when there is one."""
        relay = self.relay()
        everything = [*jobs, relay.run] if relay else list(jobs)
        await asyncio.gather(*(job(stop) for job in everything))

    def webhook_dispatcher(self) -> WebhookDispatcher:
        from imagebatch.engine.webhooks import WebhookDispatcher

        s = self.settings
        return WebhookDispatcher(
            self.webhooks,
            self.webhook_secrets,
            self.clock,
            timeout=s.webhook_timeout,
            max_attempts=s.webhook_max_attempts,
            allow_private=s.allow_private_urls,
            retry_delay=s.webhook_retry_delay,
            events=self.events,
        )

    def worker(
        self,
        *,
        batch_ids: Sequence[int] | None = None,
        concurrency: int | None = None,
        drain: bool = False,
        capacity: int | None = None,
        grace_seconds: float = 0.0,
        fair_share: bool = False,
        claim_ahead: int | None = None,
    ) -> Worker:
        """A worker. `concurrency` overrides the global limit for this worker only (the CLI's
        own run); `capacity` caps what this worker runs at once, within the global limit;
        `fair_share`: at most the global limit divided among the live registered workers;
        `claim_ahead`: see WorkerOptions."""
        s = self.settings
        worker_id = new_worker_id()
        limits = LimitSource(
            self.runtime_settings.repo,
            s.concurrency,
            s.provider_concurrency,
            override=concurrency,
            batch_ids=batch_ids,
            workers=self.workers if fair_share else None,
            worker_id=worker_id,
        )
        options = WorkerOptions(
            capacity=capacity or max(concurrency or 0, 100),
            lease_seconds=s.lease_seconds,
            drain=drain,
            grace_seconds=grace_seconds,
            claim_ahead=claim_ahead,
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
            own_keys=self.own_keys,
            worker_id=worker_id,
        )

    def economy_runner(
        self,
        *,
        batch_ids: Sequence[int] | None = None,
        drain: bool = False,
        is_dead: Callable[[str], bool] | None = None,
    ) -> EconomyRunner:
        """Runs economy batches as provider batch jobs; `is_dead` tells it which other
        runners are known to be gone, to take their jobs over at once."""
        # imported here: a run task by task (the usual) never loads economy mode's modules
        from imagebatch.engine.economy.jobs import EconomyOptions, EconomyRunner
        from imagebatch.engine.economy.results import ResultSink
        from imagebatch.engine.outputs import OutputWriter

        s = self.settings
        retry = RetryPolicy(s.max_attempts, s.retry_base_delay, s.retry_max_delay)
        sink = ResultSink(
            self.queue,
            OutputWriter(self.images, self.blobs, self.providers),
            retry,
            self.events,
            self.clock,
        )
        options = EconomyOptions(
            poll_seconds=s.economy_poll_seconds,
            # Long: submitting a big job may take a while, and the job lives for hours.
            lease_seconds=max(s.lease_seconds, 2 * s.provider_timeout),
            tick_seconds=min(1.0, s.economy_poll_seconds),
            drain=drain,
        )
        return EconomyRunner(
            self.provider_jobs,
            self.queue,
            sink,
            self.providers,
            options=options,
            events=self.events,
            clock=self.clock,
            batch_ids=batch_ids,
            is_dead=is_dead,
        )

    async def close(self) -> None:
        made = self.providers
        for provider in made.built() if isinstance(made, LazyProviders) else made.values():
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
        await migrate_if_due_async(url)
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
    runtime_settings = RuntimeSettingsService(SettingsRepo(db), settings)
    users = UserRepo(db)
    secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
    box = SecretBox(load_or_create_key(secret_key, settings.data_dir))
    history = HistoryRepo(db)
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
        runtime_settings=runtime_settings,
        service=service,
        clock=clock,
        rate_limits=RateLimits(settings.provider_rpm),
        users=users,
        ledger=LedgerRepo(db),
        secrets=box,
        presets=PresetRepo(db),
        assets=AssetRepo(db),
        history=history,
        webhooks=WebhookRepo(db),
        stats=StatsRepo(db),
        ingestor=ingestor,
        own_keys=OwnKeys(ProviderKeyRepo(db), box, clock),
        workers=WorkerRepo(db),
        provider_jobs=ProviderJobRepo(db),
    )
