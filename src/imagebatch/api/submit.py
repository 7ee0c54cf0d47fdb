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
from imagebatch.api.errors import IssueOut
from imagebatch.api.table_reading import parse_uploaded_table
from imagebatch.api.uploads import Upload
from imagebatch.api.views import BatchCreated, BatchOut, EstimateOut, PlannedTaskOut
from imagebatch.app import App
from imagebatch.domain import batch_names
from imagebatch.domain.accounts import User
from imagebatch.domain.batch_names import GeneratedName
from imagebatch.domain.credits import from_micros
from imagebatch.domain.requests import ImageRef, ImageRequest, ImageUrl, StoredImage, image_ref
from imagebatch.domain.sheet_readers import SheetLimits
from imagebatch.domain.sheets import parse_records
from imagebatch.domain.specs import Mode, TaskSpec, check_prompts
from imagebatch.domain.submissions import (
    ImageToEdit,
    TaskOptions,
    edit_specs,
    finish,
    planned_task,
    template_specs,
)
from imagebatch.engine.runtime import RuntimeSettings
from imagebatch.engine.service import Submission
from imagebatch.engine.slices import map_in_slices, step_aside
from imagebatch.errors import InputError, InputIssue, NotFound

ASSET = "asset:"


class Submitter:
    @classmethod
    async def for_user(cls, app: App, user: User) -> Submitter:
        """With the user read again (their balance) and their own-key providers."""
        fresh = await app.users.get(user.id)
        own = await app.own_keys.providers(user.owner)
        return cls(app, fresh, await app.runtime_settings.current(), own)

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
            name: str | GeneratedName = body.name or batch_names.rows(len(body.rows))
        else:
            prompt = await self._with_preset(body.preset_id, body.prompt)
            specs = self._template(prompt, body)
            name = body.name or prompt[:60]
        return await self._submit(body, Mode.GENERATE, name, specs, [], {}, dry_run)

    def _template(self, prompt: str, body: BatchIn) -> list[TaskSpec]:
        limits = SheetLimits(
            max_rows=self.runtime.max_tasks_per_batch,
            max_prompt_chars=self.app.settings.max_prompt_chars,
        )
        references = [image_ref(text) for text in body.reference_images]
        return template_specs(prompt, body.variables, body.count, limits, references)

    async def from_images(
        self,
        options: BatchOptions,
        prompt: str | None,
        count: int,
        files: Sequence[Upload],
        dry_run: bool,
        refused: Sequence[IssueOut] = (),
    ) -> BatchCreated:
        """`refused`: files left out before this (over the size limit), reported with the rest."""
        text = await self._with_preset(options.preset_id, prompt)
        if not files and not refused:
            raise InputError(
                InputIssue("images", "no images uploaded", "add image files", "no_images")
            )
        stored, unusable = await self._store(files, dry_run)
        skipped = [*refused, *unusable]
        images = [ImageToEdit(name, StoredImage(image_id)) for name, image_id in stored]
        # the user's own words kept beside the prompt sent (a preset's text in front)
        specs = [replace(s, user_prompt=prompt) for s in edit_specs(text, images, count)]
        if not specs:
            raise InputError([_issue(s) for s in skipped], "none of the uploaded files is usable")
        # Named by the files it edits: refused ones are not part of it.
        usable = [file for file in files if file.label in {label for label, _ in stored}]
        name = options.name or (
            usable[0].basename if len(usable) == 1 else batch_names.images(len(usable))
        )
        return await self._submit(options, Mode.EDIT, name, specs, skipped, {}, dry_run)

    async def from_table(
        self,
        options: BatchOptions,
        table: Upload,
        references: Sequence[Upload],
        dry_run: bool,
        refused: Sequence[IssueOut] = (),
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
        return await self.edit_many([image_id], body, dry_run=False)

    async def edit_many(self, image_ids: list[int], body: EditIn, dry_run: bool) -> BatchCreated:
        """One new batch editing each image with the prompt (`count` each); every output's
        lineage leads to its input. An image the user may not see: 404, nothing made."""
        images = await self.app.images.visible_many(self.user.owner, image_ids)
        specs = [
            TaskSpec(
                ImageRequest(body.prompt, variant=variant, input_image=StoredImage(image.id)),
                user_prompt=body.prompt,
                # the card shows the input by the name its user knows it by
                source=image.original_name or f"image {image.id}",
                filename=f"edit_{image.id}",
            )
            for image in images
            for variant in range(body.count)
        ]
        first = images[0].id
        options = BatchOptions(
            provider=body.provider,
            model=body.model,
            params=body.params,
            aspect_ratio=body.aspect_ratio,
            resolution=body.resolution,
            seed=body.seed,
        )
        many = len(images) > 1
        name = batch_names.images(len(images)) if many else batch_names.edit_of_image(first)
        return await self._submit(options, Mode.EDIT, name, specs, [], {}, dry_run)

    async def _with_preset(self, preset_id: int | None, prompt: str | None) -> str:
        parts = [prompt or ""]
        if preset_id is not None:
            preset = await self.app.presets.get(preset_id)
            if not preset.active:
                raise NotFound(f"no preset {preset_id}")
            parts.insert(0, preset.content)
        text = "\n".join(part for part in parts if part.strip())
        if not text:
            raise InputError(
                InputIssue("prompt", "the prompt is empty", "write a prompt", "empty_prompt")
            )
        return text

    async def _preset_rows(self, preset_id: int | None, specs: list[TaskSpec]) -> list[TaskSpec]:
        """A preset's prompt goes before every row's, as it does before a template."""
        if preset_id is None:
            return specs
        prefix = await self._with_preset(preset_id, None)
        return [
            replace(spec, request=replace(spec.request, prompt=f"{prefix}\n{spec.request.prompt}"))
            for spec in specs
        ]

    async def _store(
        self, files: Sequence[Upload], dry_run: bool
    ) -> tuple[list[tuple[str, int]], list[IssueOut]]:
        """Validate (and unless a dry run, store) uploaded images: (label, image id) each.
        One file at a time is read into memory, and decoded in a worker thread."""
        stored: list[tuple[str, int]] = []
        skipped: list[IssueOut] = []
        for file in files:
            try:
                stored.append((file.label, await self._image_id(file, dry_run)))
            except InputError as error:
                issue = error.issues[0]
                skipped.append(IssueOut.as_given(replace(issue, where=file.basename)))
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
        name: str | GeneratedName,
        specs: list[TaskSpec],
        skipped: list[IssueOut],
        uploaded: dict[str, StoredImage],
        dry_run: bool,
    ) -> BatchCreated:
        # the shared pipeline: the same rules as `imagebatch run` (presets and edits included)
        max_chars = self.app.settings.max_prompt_chars
        check_prompts(specs, max_chars)  # every prompt's problem at once, not a slice's
        task_options = _task_options(options)
        planned = await map_in_slices(lambda part: finish(part, task_options, max_chars), specs)
        specs = await self._all_resolved(planned, uploaded)
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
                planned=[PlannedTaskOut.model_validate(planned_task(spec)) for spec in planned],
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
        self, options: BatchOptions, mode: Mode, name: str | GeneratedName, specs: list[TaskSpec]
    ) -> Submission:
        generated = name if isinstance(name, GeneratedName) else None
        text = generated.english if generated else str(name)
        webhook = str(options.webhook_url) if options.webhook_url else self.user.webhook_url
        return Submission(
            name=text[:200] or "batch",
            generated_name=generated,
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

    async def _all_resolved(
        self, specs: list[TaskSpec], uploaded: dict[str, StoredImage]
    ) -> list[TaskSpec]:
        resolved: list[TaskSpec] = []
        for done, spec in enumerate(specs, 1):
            resolved.append(await self._resolved(spec, uploaded))
            await step_aside(done)  # 10,000 rows: let the loop answer others meanwhile
        return resolved

    async def _resolved(self, spec: TaskSpec, uploaded: dict[str, StoredImage]) -> TaskSpec:
        refs = [await self._reference(r, uploaded, spec.source) for r in spec.request.references]
        return replace(spec, request=replace(spec.request, references=tuple(refs)))

    async def _reference(
        self, written: ImageRef, uploaded: dict[str, StoredImage], source: str | None
    ) -> ImageRef:
        """A reference as the caller wrote it, as the image it names: only URLs, their
        uploads and their assets (a name that looks like "image:<id>" is none of them)."""
        if isinstance(written, ImageUrl):
            return written
        ref = str(written)
        if ref in uploaded:
            return uploaded[ref]
        where = f"{source or 'input'}, column reference_images"
        if ref.startswith(ASSET) and ref.removeprefix(ASSET).isdigit():
            try:
                asset = await self.app.assets.get(self.user.owner, int(ref.removeprefix(ASSET)))
            except NotFound:
                raise InputError(
                    InputIssue(
                        where,
                        f"no asset {ref!r} in your library",
                        "pick another asset",
                        "unknown_reference",
                        {"ref": ref},
                    )
                ) from None
            return StoredImage(asset.image.id)
        raise InputError(
            InputIssue(
                where,
                f"unknown reference image {ref!r}",
                "use asset:<id>, the name of a file uploaded with the table, or an http(s) URL",
                "unknown_reference",
                {"ref": ref},
            )
        )


def _by_name(files: Sequence[Upload], stored: list[tuple[str, int]]) -> dict[str, StoredImage]:
    """How rows may name uploaded reference files: by base name, or with their folder."""
    by_name: dict[str, StoredImage] = {}
    clashes: list[InputIssue] = []
    for file, (label, image_id) in zip(files, stored, strict=True):
        for key in dict.fromkeys((file.basename, label, file.name)):
            if key in by_name and key == file.basename:
                clashes.append(
                    InputIssue(
                        file.name,
                        f"two reference files are named {key!r}",
                        "rename one, or name them with their folder in the table",
                        "duplicate_file_name",
                        {"name": key},
                    )
                )
            by_name[key] = StoredImage(image_id)
    if clashes:
        raise InputError(clashes)
    return by_name


def _task_options(options: BatchOptions) -> TaskOptions:
    return TaskOptions.of(
        negative_prompt=options.negative_prompt,
        aspect_ratio=options.aspect_ratio,
        resolution=options.resolution,
        seed=options.seed,
        params=options.params,
    )


def _issue(skipped: IssueOut) -> InputIssue:
    return InputIssue(
        skipped.where, skipped.problem, skipped.hint, skipped.code, dict(skipped.params)
    )


def _skipped(issue: InputIssue) -> IssueOut:
    return IssueOut.as_given(issue)
