"""Rows to domain records: columns map to fields of the same name; a few need converting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import Row

from imagebatch.domain.records import Batch, Image, Task
from imagebatch.domain.requests import ImageRequest
from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.domain.states import BatchStatus, TaskStatus

R = TypeVar("R", Task, Batch, Image)


#: field names per record class, looked up once: this runs for every row of every page
_FIELDS: dict[type, tuple[str, ...]] = {}


def _record(cls: type[R], row: Mapping[Any, Any], **converted: Any) -> R:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    # a plain dict: RowMapping lookups cost several times more
    values = row if isinstance(row, dict) else dict(row)
    plain = {n: values[n] for n in names if n in values and n not in converted}
    return cls(**plain, **converted)


def task_from_row(row: Row[Any] | dict[str, Any]) -> Task:
    """A task from its row: a SQLAlchemy Row, or a dict of its columns (store/driver.py)."""
    m = row if isinstance(row, dict) else dict(row._mapping)
    return _record(
        Task,
        m,
        status=TaskStatus(m["status"]),
        request=request_from_columns(m),
        reused=bool(m["reused"]),
        own_key=bool(m["own_key"]),
    )


def request_from_columns(m: Mapping[Any, Any]) -> ImageRequest[int]:
    """A task row's request (the inverse of request_columns)."""
    return ImageRequest(
        m["prompt"],
        m["negative_prompt"],
        AspectRatio(m["aspect_ratio"]) if m["aspect_ratio"] else None,
        Resolution(m["resolution"]) if m["resolution"] else None,
        m["seed"],
        m["variant"],
        dict(m["params"] or {}),
        m["input_image_id"],
        tuple(m["reference_image_ids"] or ()),
    )


def request_columns(request: ImageRequest[int]) -> dict[str, Any]:
    """A request as a task row's columns (the inverse of request_from_columns)."""
    return {
        **request.plain(),
        "input_image_id": request.input_image,
        "reference_image_ids": list(request.references),
    }


def task_columns(task: Task) -> dict[str, Any]:
    """A task as its row's columns, for whoever reads tasks in that shape (the API)."""
    values = {f.name: getattr(task, f.name) for f in fields(task) if f.name != "request"}
    return {**values, **request_columns(task.request)}


def batch_from_row(row: Row[Any]) -> Batch:
    m = row._mapping
    return _record(
        Batch,
        m,
        mode=Mode(m["mode"]),
        status=BatchStatus(m["status"]),
        economy=bool(m["economy"]),
    )


def image_from_row(row: Row[Any]) -> Image:
    return _record(Image, row._mapping)
