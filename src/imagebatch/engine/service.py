"""BatchService: everything a user can ask of the queue (submit, pause, resume, cancel, retry)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagebatch.domain.batch_names import GeneratedName
from imagebatch.domain.capabilities import check_spec, model_for
from imagebatch.domain.credits import to_micros
from imagebatch.domain.events import EventKind
from imagebatch.domain.filenames import assign_stems
from imagebatch.domain.pricing import Estimate, estimate, price_of
from imagebatch.domain.records import Batch, Image, NewBatch, NewTask, Task
from imagebatch.domain.requests import ImageRequest
from imagebatch.domain.specs import Mode, TaskSpec
from imagebatch.domain.states import BatchStatus
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.events import Event, EventBus
from imagebatch.engine.ingest import ImageFinder, Ingestor
from imagebatch.engine.slices import map_in_slices, step_aside
from imagebatch.errors import InputError, InputIssue, Params
from imagebatch.providers.base import BatchJobs, ImageProvider
from imagebatch.store.batches import BatchRepo
from imagebatch.store.queue import QueueRepo
from imagebatch.store.tasks import TaskRepo


@dataclass(frozen=True, slots=True)
class Submission:
    name: str
    owner: str
    mode: Mode
    provider: str
    specs: Sequence[TaskSpec]
    model: str | None = None
    #: relative reference-image paths are resolved from here (the table's folder)
    base_dir: Path | None = None
    #: take the output of an identical succeeded request instead of paying again
    reuse: bool = False
    priority: int = 0
    fingerprint: str | None = None
    out_dir: str | None = None
    #: file stems already in the output folder, never to be overwritten
    taken_stems: frozenset[str] = frozenset()
    max_attempts: int = 3
    max_tasks: int = 10_000
    #: the owner's pending + running tasks, this batch's included, may not pass this (the
    #: server's fair-use limit); None: no limit (the CLI's single local user)
    max_active_tasks: int | None = None
    #: POSTed when the batch ends
    webhook_url: str | None = None
    #: submit as one discounted provider batch job where the provider offers it
    economy: bool = False
    #: reserve credits at the price table's prices (server users); the CLI runs free
    billed: bool = False
    #: providers the owner brings their own API key for: they cost no credits
    own_key_providers: frozenset[str] = frozenset()
    #: set when the service named the batch: `name` is its English text
    generated_name: GeneratedName | None = None
    #: whether specs may name files on this machine (the CLI may; API callers may not)
    local_files: bool = True


@dataclass(frozen=True, slots=True)
class Submitted:
    batch: Batch
    #: input files left out (unreadable, too large…); the rest of the batch went ahead
    skipped: list[InputIssue]
    estimate: Estimate


@dataclass(frozen=True, slots=True)
class _Resolved:
    spec: TaskSpec
    #: the spec's request with its images stored
    request: ImageRequest[Image]
    #: the provider and model that run it (the row's own, or the batch's: see model_for)
    provider: str
    model: str

    @property
    def request_key(self) -> str:
        return self.request.request_key(self.provider, self.model)


class BatchService:
    def __init__(
        self,
        batches: BatchRepo,
        tasks: TaskRepo,
        queue: QueueRepo,
        ingestor: Ingestor,
        providers: Mapping[str, ImageProvider],
        events: EventBus,
        clock: Clock = utc_now,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        self.batches = batches
        self.tasks = tasks
        self.queue = queue
        self.ingestor = ingestor
        self.providers = providers
        self.events = events
        self.clock = clock
        self.prices = dict(prices or {})

    async def submit(self, sub: Submission) -> Submitted:
        """Validate everything, store inputs, then create the batch in one transaction."""
        model = self._check(sub)
        resolved, skipped = await self._resolve_images(sub, model)
        if not resolved:
            nothing = InputIssue("input", "no tasks", "add rows or images", "no_tasks")
            raise InputError(skipped or [nothing])
        stems = assign_stems([r.spec for r in resolved], sub.taken_stems)
        reuse = await self._reusable(sub, resolved) if sub.reuse else {}
        pricer = self._pricer(sub)
        new_tasks = await map_in_slices(
            lambda part: [
                _new_task(seq, r, stem, reuse, pricer, sub.own_key_providers)
                for seq, r, stem in part
            ],
            list(zip(range(len(resolved)), resolved, stems, strict=True)),
        )
        new_batch = NewBatch(
            name=sub.name,
            owner=sub.owner,
            mode=sub.mode,
            provider=sub.provider,
            model=model,
            max_attempts=sub.max_attempts,
            priority=sub.priority,
            fingerprint=sub.fingerprint,
            out_dir=sub.out_dir,
            webhook_url=sub.webhook_url,
            economy=sub.economy,
            name_code=sub.generated_name.code if sub.generated_name else None,
            name_params=sub.generated_name.params if sub.generated_name else None,
        )
        batch = await self.batches.create(new_batch, new_tasks, self.clock(), sub.max_active_tasks)
        self.events.publish(
            Event(EventKind.SUBMITTED, batch_id=batch.id, status=batch.status.value)
        )
        return Submitted(batch, skipped, self._estimate(sub, model, new_tasks))

    def estimate(self, sub: Submission) -> Estimate:
        """Validate and price a submission without storing anything (a dry run)."""
        model = self._check(sub)
        return self._estimate(sub, model, None)

    def _estimate(self, sub: Submission, model: str, new_tasks: list[NewTask] | None) -> Estimate:
        if new_tasks is None:
            requests = [self._target(spec, sub.provider, model) for spec in sub.specs]
            reused = 0
        else:
            made = [t for t in new_tasks if t.reuse_image_id is None]
            requests = [(t.provider or sub.provider, t.model or model) for t in made]
            reused = len(new_tasks) - len(requests)
        # Only the providers asked for: looking at the others would build them for nothing.
        caps = {name: self.providers[name].capabilities for name, _ in requests}
        overrides = dict(self.prices)
        for provider, used_model in requests:
            if provider in sub.own_key_providers:
                overrides[f"{provider}/{used_model}"] = 0.0  # the user's own key: no credits
        discounts = {p: self._discount(sub, p) for p, _ in requests}
        return estimate(requests, caps, overrides, reused=reused, discounts=discounts)

    def _discount(self, sub: Submission, provider: str) -> float:
        """Share of the price an economy batch saves on this provider (0 otherwise)."""
        found = self.providers.get(provider)
        return found.batch_discount if sub.economy and isinstance(found, BatchJobs) else 0.0

    def _pricer(self, sub: Submission) -> Callable[[str, str], int]:
        """Credits (micro-units) one image of (provider, model) reserves for this submission."""

        def price(provider: str, model: str) -> int:
            if not sub.billed or provider in sub.own_key_providers:
                return 0
            caps = self.providers[provider].capabilities
            full = price_of(caps, model, self.prices)
            return to_micros(full * (1 - self._discount(sub, provider)))

        return price

    def _check(self, sub: Submission) -> str:
        """Provider, model and every spec against the model's capabilities; returns the model."""
        if len(sub.specs) > sub.max_tasks:
            raise InputError(
                InputIssue(
                    "input",
                    f"{len(sub.specs)} tasks, a batch may have at most {sub.max_tasks}",
                    "split the input or raise IMAGEBATCH_MAX_TASKS_PER_BATCH",
                    "too_many_tasks",
                    {"n": len(sub.specs), "max": sub.max_tasks},
                )
            )
        by_provider: dict[str, list[TaskSpec]] = {sub.provider: []}
        for spec in sub.specs:
            by_provider.setdefault(spec.provider or sub.provider, []).append(spec)
        unusable: list[InputIssue] = []
        issues: list[InputIssue] = []
        for name, specs in by_provider.items():
            why = self._unusable(name, sub.own_key_providers, specs) or (
                self._no_economy(name, sub) if sub.economy and specs else None
            )
            if why is not None:
                unusable.append(why)
                continue
            caps = self.providers[name].capabilities
            for spec in specs:
                model = model_for(spec, sub.provider, sub.model, caps)
                issues += check_spec(spec, sub.mode, caps, model)
        if unusable or issues:
            raise InputError(unusable + issues)
        return sub.model or self.providers[sub.provider].capabilities.default_model

    def _target(self, spec: TaskSpec, batch_provider: str, batch_model: str) -> tuple[str, str]:
        """The provider and model that run `spec` in a batch on this provider and model."""
        provider = spec.provider or batch_provider
        caps = self.providers[provider].capabilities
        return provider, model_for(spec, batch_provider, batch_model, caps)

    def _unusable(
        self, name: str, own_keys: frozenset[str], specs: list[TaskSpec]
    ) -> InputIssue | None:
        """Why a provider cannot take work here, said once per provider, at the first row
        that names it (`specs` are those that run on it; none: it is only the batch's)."""
        provider = self.providers.get(name)
        if provider is None:
            known = ", ".join(sorted(self.providers))
            params = {"provider": name, "known": known}
            said = ("does not exist", f"use one of: {known}")
            return _provider_issue(name, specs, said, code="unknown_provider", params=params)
        if specs and not provider.configured and name not in own_keys:
            env = name.upper().replace("-", "_")
            hint = f"set IMAGEBATCH_{env}_API_KEY (and IMAGEBATCH_{env}_BASE_URL if needed)"
            said = ("is not configured", hint)
            params = {"provider": name}
            return _provider_issue(name, specs, said, code="provider_unconfigured", params=params)
        return None

    def _no_economy(self, name: str, sub: Submission) -> InputIssue | None:
        """Why this provider cannot run an economy batch, if it cannot."""
        if not isinstance(self.providers[name], BatchJobs):
            able = sorted(n for n, p in self.providers.items() if isinstance(p, BatchJobs))
            return InputIssue(
                f"provider {name}",
                "offers no discounted batch jobs, so it cannot run an economy batch",
                f"turn economy mode off, or use {' or '.join(able) or 'another provider'}",
                "economy_unsupported",
                {"provider": name, "able": ", ".join(able)},
            )
        if name in sub.own_key_providers:
            return InputIssue(
                f"provider {name}",
                "economy batches run on the server's API keys, not on your own key",
                "turn economy mode off, or remove your own key for this provider",
                "economy_own_key",
                {"provider": name},
            )
        return None

    async def _resolve_images(
        self, sub: Submission, model: str
    ) -> tuple[list[_Resolved], list[InputIssue]]:
        finder = ImageFinder(self.ingestor.fresh(), sub.base_dir, sub.local_files)
        resolved: list[_Resolved] = []
        skipped: list[InputIssue] = []
        reference_issues: list[InputIssue] = []
        for done, spec in enumerate(sub.specs, 1):
            await step_aside(done)
            input_image = None
            if spec.request.input_image:
                where = spec.source or "input"
                found = await finder.input_image(spec.request.input_image, where)
                if isinstance(found, InputIssue):
                    skipped.append(found)
                    continue
                input_image = found
            references = []
            for ref in spec.request.references:
                where = f"{spec.source or 'input'}, column reference_images"
                got = await finder.reference(ref, where)
                if isinstance(got, InputIssue):
                    reference_issues.append(got)
                else:
                    references.append(got)
            request = spec.request.with_images(input_image, tuple(references))
            target = self._target(spec, sub.provider, model)
            resolved.append(_Resolved(spec, request, *target))
        if reference_issues:
            raise InputError(_unique(reference_issues))
        return resolved, _unique(skipped)

    async def _reusable(self, sub: Submission, resolved: list[_Resolved]) -> dict[str, int]:
        # The owner's own outputs only: another user's would hand over their image, free.
        keys = [r.request_key for r in resolved]
        return await self.queue.succeeded_outputs(sub.owner, keys)

    async def pause(self, batch_id: int) -> Batch:
        batch = await self.batches.change_status(batch_id, BatchStatus.PAUSED, self.clock())
        self.events.publish(Event(EventKind.BATCH, batch_id=batch_id, status=batch.status.value))
        return batch

    async def resume(self, batch_id: int) -> Batch:
        batch = await self.batches.change_status(batch_id, BatchStatus.RUNNING, self.clock())
        self.events.publish(Event(EventKind.RESUMED, batch_id=batch_id, status=batch.status.value))
        return batch

    async def cancel(self, batch_id: int) -> Batch:
        await self.tasks.cancel_batch(batch_id, self.clock())
        self.events.publish(Event(EventKind.CANCELLED, batch_id=batch_id, status="cancelled"))
        return await self.batches.get(batch_id)

    async def retry_failed(self, batch_id: int) -> int:
        count = await self.tasks.retry_failed(batch_id, self.clock())
        self.events.publish(Event(EventKind.RETRIED, batch_id=batch_id))
        return count

    async def retry_tasks(self, task_ids: list[int], owner: str | None) -> int:
        """Several failed tasks back to the queue at once (all or none); how many."""
        retried = await self.tasks.retry_many(task_ids, owner, self.clock())
        for task in retried:
            self.events.publish(Event(EventKind.RETRIED, batch_id=task.batch_id, task_id=task.id))
        return len(retried)

    async def retry_task(self, task_id: int) -> Task:
        task = await self.tasks.retry_task(task_id, self.clock())
        self.events.publish(Event(EventKind.RETRIED, batch_id=task.batch_id, task_id=task_id))
        return task


def _new_task(
    seq: int,
    r: _Resolved,
    stem: str,
    reuse: dict[str, int],
    price: Callable[[str, str], int],
    own_key_providers: frozenset[str],
) -> NewTask:
    key = r.request_key
    return NewTask(
        price=price(r.provider, r.model),
        own_key=r.provider in own_key_providers,
        seq=seq,
        request=r.request.map_images(lambda image: image.id),
        user_prompt=r.spec.user_prompt,
        output_filename=stem,
        request_key=key,
        source=r.spec.source,
        provider=r.provider,
        model=r.model,
        reuse_image_id=reuse.get(key),
    )


def _provider_issue(
    name: str, specs: list[TaskSpec], said: tuple[str, str], *, code: str, params: Params
) -> InputIssue:
    """A provider's problem (what, hint), shown at the first row that names it (with how many
    more do: the `more` param); the batch's own provider, which no row names, by its name."""
    problem, hint = said
    rows = list(dict.fromkeys(spec.source for spec in specs if spec.provider == name))
    if not rows or rows[0] is None:
        return InputIssue(f"provider {name!r}", problem, hint, code, params)
    others = len(rows) - 1
    more = f" ({others} more {'row names' if others == 1 else 'rows name'} it)" if others else ""
    where = f"{rows[0]}, column provider"
    said_here = f"provider {name!r} {problem}{more}"
    return InputIssue(where, said_here, hint, code, {**params, "more": others})


def _unique(issues: list[InputIssue]) -> list[InputIssue]:
    return list(dict.fromkeys(issues))
