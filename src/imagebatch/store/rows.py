"""Rows to domain records: columns map to fields of the same name; a few need converting."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import Row, RowMapping

from imagebatch.domain.records import Batch, Image, Task
from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.domain.states import BatchStatus, TaskStatus

R = TypeVar("R", Task, Batch, Image)


#: field names per record class, looked up once: this runs for every row of every page
_FIELDS: dict[type, tuple[str, ...]] = {}


def _record(cls: type[R], row: RowMapping, **converted: Any) -> R:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    values = dict(row)  # a plain dict: RowMapping lookups cost several times more
    plain = {n: values[n] for n in names if n in values and n not in converted}
    return cls(**plain, **converted)


def task_from_row(row: Row[Any]) -> Task:
    m = row._mapping
    return _record(
        Task,
        m,
        status=TaskStatus(m["status"]),
        aspect_ratio=AspectRatio(m["aspect_ratio"]) if m["aspect_ratio"] else None,
        resolution=Resolution(m["resolution"]) if m["resolution"] else None,
        params=dict(m["params"] or {}),
        reference_image_ids=tuple(m["reference_image_ids"] or ()),
        reused=bool(m["reused"]),
        own_key=bool(m["own_key"]),
    )


def batch_from_row(row: Row[Any]) -> Batch:
    m = row._mapping
    return _record(
        Batch,
        m,
        mode=Mode(m["mode"]),
        status=BatchStatus(m["status"]),
        params=dict(m["params"] or {}),
        economy=bool(m["economy"]),
    )


def image_from_row(row: Row[Any]) -> Image:
    return _record(Image, row._mapping)
