"""Turning API requests into Submissions: templates, rows, uploaded images and tables.

References a caller may name: "asset:<id>" (their library), the name of a file uploaded in
the same request, or an http(s) URL. Never a path on the server, never another user's image.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import PurePosixPath

from imagebatch.api.bodies import BatchIn, BatchOptions, EditIn
from imagebatch.api.table_reading import parse_uploaded_table
from imagebatch.api.uploads import Upload
from imagebatch.api.views import BatchCreated, BatchOut, EstimateOut, SkippedOut
from imagebatch.app import App
from imagebatch.domain.accounts import User
from imagebatch.domain.credits import from_micros
from imagebatch.domain.prompts import expand_template
from imagebatch.domain.sheets import parse_records
from imagebatch.domain.specs import Mode, TaskSpec, check_prompts
from imagebatch.engine.ingest import STORED_IMAGE
from imagebatch.engine.runtime import RuntimeSettings
from imagebatch.engine.service import Submission
from imagebatch.errors import InputError, InputIssue, NotFound
from imagebatch.imaging.fetch import is_url

ASSET = "asset:"


class Submitter:
    @classmethod
    async def for_user(cls, app: App, user: User) -> Submitter:
        """With the user read again (their balance) and their own-key providers."""
        fresh = await app.users.get(user.id)
        own = await app.own_keys.providers(user.owner)
        return cls(app, fresh, await app.runtime.current(), own)

    def __init__(
        self,
        app: App,
        user: User,
        runtime: RuntimeSettings,
        own_key_providers: frozenset[str] = frozenset(),
    ) -> None:
        self.own_key_providers = own_key_providers
        self.app = app
        self.user = user
        self.runtime = runtime
        self.ingestor = app.ingestor.fresh(max_bytes=runtime.max_image_bytes)

    async def from_json(self, body: BatchIn, dry_run: bool) -> BatchCreated:
        if body.rows is not None:
            specs = await self._preset_rows(body.preset_id, parse_records(body.rows))
            name = body.name or f"{len(body.rows)} rows"
        else:
            prompt = await self._with_preset(body.preset_id, body.prompt)
            specs = self._template(prompt, body)
            name = body.name or prompt[:60]
        return await self._submit(body, Mode.GENERATE, name, specs, [], {}, dry_run)

    def _template(self, prompt: str, body: BatchIn) -> list[TaskSpec]:
        prompts = expand_template(
            prompt,
            body.variables,
            count=body.count,
            max_tasks=self.runtime.max_tasks_per_batch,
            max_prompt_chars=self.app.settings.max_prompt_chars,
        )
        return [
            TaskSpec(
                prompt=text,
                source=f"prompt {i + 1}",
                variant=variant,
                reference_images=tuple(body.reference_images),
            )
            for i, text in enumerate(prompts)
            for variant in range(body.count)
        ]

    async def from_images(
        self,
        options: BatchOptions,
        prompt: str | None,
        count: int,
        files: Sequence[Upload],
        dry_run: bool,
        refused: Sequence[SkippedOut] = (),
    ) -> BatchCreated:
        """`refused`: files left out before this (over the size limit), reported with the rest."""
        text = await self._with_preset(options.preset_id, prompt)
        if not files and not refused:
            raise InputError(InputIssue("images", "no images uploaded", "add image files"))
        stored, unusable = await self._store(files, dry_run)
        skipped = [*refused, *unusable]
        specs = [
            TaskSpec(
                prompt=text,
                input_image=f"{STORED_IMAGE}{image_id}",
                filename=f"{PurePosixPath(name).stem}_edit",
                source=name,
                variant=variant,
            )
            for name, image_id in stored
            for variant in range(count)
        ]
        if not specs:
            raise InputError([_issue(s) for s in skipped], "none of the uploaded files is usable")
        name = options.name or (files[0].basename if len(files) == 1 else f"{len(files)} images")
        return await self._submit(options, Mode.EDIT, name, specs, skipped, {}, dry_run)

    async def from_table(
        self,
        options: BatchOptions,
        table: Upload,
        references: Sequence[Upload],
        dry_run: bool,
        refused: Sequence[SkippedOut] = (),
    ) -> BatchCreated:
        """`refused`: reference files left out before this (over the size limit)."""
        data = await table.read()
        parsed = await parse_uploaded_table(self.app, self.runtime, data, table.basename)
        specs = await self._preset_rows(options.preset_id, parsed)
        stored, unusable = await self._store(references, dry_run)
        if refused or unusable:
            raise InputError([_issue(s) for s in (*refused, *unusable)])
        name = options.name or PurePosixPath(table.basename).stem
        uploaded = _by_name(references, stored)
        return await self._submit(options, Mode.GENERATE, name, specs, [], uploaded, dry_run)

    async def edit(self, image_id: int, body: EditIn) -> BatchCreated:
        if not await self.app.assets.can_see(self.user.owner, image_id):
            raise NotFound(f"no image {image_id}")
        spec = TaskSpec(
            prompt=body.prompt,
            input_image=f"{STORED_IMAGE}{image_id}",
            source=f"image {image_id}",
            filename=f"edit_{image_id}",
        )
        specs = [replace(spec, variant=v) for v in range(body.count)]
        options = BatchOptions(
            name=f"Edit of image {image_id}",
            provider=body.provider,
            model=body.model,
            params=body.params,
            aspect_ratio=body.aspect_ratio,
            resolution=body.resolution,
            seed=body.seed,
        )
        return await self._submit(options, Mode.EDIT, options.name or "", specs, [], {}, False)

    async def _with_preset(self, preset_id: int | None, prompt: str | None) -> str:
        parts = [prompt or ""]
        if preset_id is not None:
            preset = await self.app.presets.get(preset_id)
            if not preset.active:
                raise NotFound(f"no preset {preset_id}")
            parts.insert(0, preset.content)
        text = "\n".join(part for part in parts if part.strip())
        if not text:
            raise InputError(InputIssue("prompt", "the prompt is empty", "write a prompt"))
        return text

    async def _preset_rows(self, preset_id: int | None, specs: list[TaskSpec]) -> list[TaskSpec]:
        """A preset's prompt goes before every row's, as it does before a template."""
        if preset_id is None:
            return specs
        prefix = await self._with_preset(preset_id, None)
        return [replace(spec, prompt=f"{prefix}\n{spec.prompt}") for spec in specs]

    async def _store(
        self, files: Sequence[Upload], dry_run: bool
    ) -> tuple[list[tuple[str, int]], list[SkippedOut]]:
        """Validate (and unless a dry run, store) uploaded images: (label, image id) each.
        One file at a time is read into memory, and decoded in a worker thread."""
        stored: list[tuple[str, int]] = []
        skipped: list[SkippedOut] = []
        for file in files:
            try:
                stored.append((file.label, await self._image_id(file, dry_run)))
            except InputError as error:
                issue = error.issues[0]
                skipped.append(
                    SkippedOut(where=file.basename, problem=issue.problem, hint=issue.hint)
                )
        if not dry_run:
            await self.app.assets.grant(self.user.owner, [image_id for _, image_id in stored])
        return stored, skipped

    async def _image_id(self, file: Upload, dry_run: bool) -> int:
        """Its bytes live only for this call: the next file is not read beside them."""
        data = await file.read()
        if dry_run:
            await asyncio.to_thread(self.ingestor.check_bytes, data, file.basename)
            return 0
        return (await self.ingestor.image_from_bytes(data, file.basename)).id

    async def _submit(
        self,
        options: BatchOptions,
        mode: Mode,
        name: str,
        specs: list[TaskSpec],
        skipped: list[SkippedOut],
        uploaded: dict[str, str],
        dry_run: bool,
    ) -> BatchCreated:
        check_prompts(specs, self.app.settings.max_prompt_chars)  # presets and edits included
        specs = [
            await self._resolved(self._with_options(spec, options), uploaded) for spec in specs
        ]
        sub = self._submission(options, mode, name, specs)
        if dry_run:
            found = self.app.service.estimate(sub)
            await self.app.batches.check_room(sub.owner, len(specs), sub.max_active_tasks)
            return BatchCreated(
                batch=None,
                tasks=len(specs),
                estimate=EstimateOut.of(found),
                credits=from_micros(self.user.balance),
                skipped=skipped,
                dry_run=True,
            )
        submitted = await self.app.service.submit(sub)
        skipped += [_skipped(issue) for issue in submitted.skipped]
        return BatchCreated(
            batch=BatchOut.of(submitted.batch),
            tasks=submitted.batch.total,
            estimate=EstimateOut.of(submitted.estimate),
            credits=from_micros(self.user.balance),
            skipped=skipped,
            dry_run=False,
        )

    def _submission(
        self, options: BatchOptions, mode: Mode, name: str, specs: list[TaskSpec]
    ) -> Submission:
        webhook = str(options.webhook_url) if options.webhook_url else self.user.webhook_url
        return Submission(
            name=name[:200] or "batch",
            owner=self.user.owner,
            mode=mode,
            provider=options.provider,
            specs=specs,
            model=options.model,
            reuse=options.reuse,
            priority=options.priority,
            max_attempts=self.runtime.max_attempts,
            max_tasks=self.runtime.max_tasks_per_batch,
            max_active_tasks=self.runtime.max_active_tasks_per_user,
            webhook_url=webhook,
            economy=options.economy,
            billed=True,
            local_files=False,
            own_key_providers=self.own_key_providers,
        )

    @staticmethod
    def _with_options(spec: TaskSpec, options: BatchOptions) -> TaskSpec:
        """Batch-wide choices fill in what a row left empty; a row's own values win."""
        params = {k: _text(v) for k, v in options.params.items()}
        return replace(
            spec,
            negative_prompt=spec.negative_prompt or options.negative_prompt,
            aspect_ratio=spec.aspect_ratio or options.aspect_ratio,
            resolution=spec.resolution or options.resolution,
            seed=spec.seed if spec.seed is not None else options.seed,
            params={**params, **spec.params},
        )

    async def _resolved(self, spec: TaskSpec, uploaded: dict[str, str]) -> TaskSpec:
        refs = [await self._reference(ref, uploaded, spec.source) for ref in spec.reference_images]
        return replace(spec, reference_images=tuple(refs))

    async def _reference(self, ref: str, uploaded: dict[str, str], source: str | None) -> str:
        if is_url(ref):
            return ref
        if ref in uploaded:
            return uploaded[ref]
        where = f"{source or 'input'}, column reference_images"
        if ref.startswith(ASSET) and ref.removeprefix(ASSET).isdigit():
            try:
                asset = await self.app.assets.get(self.user.owner, int(ref.removeprefix(ASSET)))
            except NotFound:
                raise InputError(
                    InputIssue(where, f"no asset {ref!r} in your library", "pick another asset")
                ) from None
            return f"{STORED_IMAGE}{asset.image.id}"
        raise InputError(
            InputIssue(
                where,
                f"unknown reference image {ref!r}",
                "use asset:<id>, the name of a file uploaded with the table, or an http(s) URL",
            )
        )


def _by_name(files: Sequence[Upload], stored: list[tuple[str, int]]) -> dict[str, str]:
    """How rows may name uploaded reference files: by base name, or with their folder."""
    by_name: dict[str, str] = {}
    clashes: list[InputIssue] = []
    for file, (label, image_id) in zip(files, stored, strict=True):
        for key in dict.fromkeys((file.basename, label, file.name)):
            if key in by_name and key == file.basename:
                clashes.append(
                    InputIssue(
                        file.name,
                        f"two reference files are named {key!r}",
                        "rename one, or name them with their folder in the table",
                    )
                )
            by_name[key] = f"{STORED_IMAGE}{image_id}"
    if clashes:
        raise InputError(clashes)
    return by_name


def _text(value: str | int | float | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _issue(skipped: SkippedOut) -> InputIssue:
    return InputIssue(skipped.where, skipped.problem, skipped.hint)


def _skipped(issue: InputIssue) -> SkippedOut:
    return SkippedOut(where=issue.where, problem=issue.problem, hint=issue.hint)
