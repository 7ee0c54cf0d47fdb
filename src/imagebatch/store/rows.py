"""Rows to domain records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from imagebatch.domain.records import Batch, Image, Task
from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.domain.states import BatchStatus, TaskStatus


def task_from_row(row: Row[Any]) -> Task:
    m = row._mapping
    return Task(
        id=m["id"],
        batch_id=m["batch_id"],
        owner=m["owner"],
        provider=m["provider"],
        model=m["model"],
        seq=m["seq"],
        status=TaskStatus(m["status"]),
        prompt=m["prompt"],
        output_filename=m["output_filename"],
        request_key=m["request_key"],
        attempts=m["attempts"],
        max_attempts=m["max_attempts"],
        negative_prompt=m["negative_prompt"],
        aspect_ratio=AspectRatio(m["aspect_ratio"]) if m["aspect_ratio"] else None,
        resolution=Resolution(m["resolution"]) if m["resolution"] else None,
        seed=m["seed"],
        variant=m["variant"],
        params=dict(m["params"] or {}),
        input_image_id=m["input_image_id"],
        reference_image_ids=tuple(m["reference_image_ids"] or ()),
        source=m["source"],
        priority=m["priority"],
        error_kind=m["error_kind"],
        error_message=m["error_message"],
        output_image_id=m["output_image_id"],
        reused=bool(m["reused"]),
        lease_owner=m["lease_owner"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
    )


def batch_from_row(row: Row[Any]) -> Batch:
    m = row._mapping
    return Batch(
        id=m["id"],
        name=m["name"],
        owner=m["owner"],
        mode=Mode(m["mode"]),
        provider=m["provider"],
        model=m["model"],
        status=BatchStatus(m["status"]),
        total=m["total"],
        succeeded=m["succeeded"],
        failed=m["failed"],
        cancelled=m["cancelled"],
        created_at=m["created_at"],
        priority=m["priority"],
        params=dict(m["params"] or {}),
        fingerprint=m["fingerprint"],
        out_dir=m["out_dir"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
    )


def image_from_row(row: Row[Any]) -> Image:
    m = row._mapping
    return Image(
        id=m["id"],
        sha256=m["sha256"],
        mime=m["mime"],
        width=m["width"],
        height=m["height"],
        bytes=m["bytes"],
        storage_key=m["storage_key"],
        kind=m["kind"],
        original_name=m["original_name"],
        parent_image_id=m["parent_image_id"],
        thumbnail_key=m["thumbnail_key"],
    )
