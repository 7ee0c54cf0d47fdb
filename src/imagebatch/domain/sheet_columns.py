"""The task-table columns: their English and Chinese headers, and how each value is read."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imagebatch.domain.specs import MAX_COUNT_PER_ROW, MAX_REFERENCE_IMAGES, AspectRatio, Resolution
from imagebatch.errors import Params


class BadValue(ValueError):
    """A cell value that cannot be used; the message says what is allowed, the code and
    params say it again for pages in other languages (InputIssue's code and params)."""

    def __init__(self, message: str, *, code: str, params: Params) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    english: str
    chinese: str
    parse: Callable[[str], Any]
    help_en: str
    help_zh: str
    aliases: tuple[str, ...] = ()


def _text(value: str) -> str:
    return value


def _ratio(value: str) -> AspectRatio:
    normal = re.sub(r"\s+", "", value).replace("：", ":").replace("x", ":").replace("X", ":")
    try:
        return AspectRatio(normal)
    except ValueError:
        allowed = " ".join(r.value for r in AspectRatio)
        raise BadValue(
            f"{value!r} is not an aspect ratio; use one of {allowed}",
            code="value_ratio",
            params={"value": value, "allowed": allowed},
        ) from None


def _resolution(value: str) -> Resolution:
    try:
        return Resolution(value.strip().upper())
    except ValueError:
        raise BadValue(
            f"{value!r} is not a resolution; use 1K, 2K or 4K",
            code="value_resolution",
            params={"value": value},
        ) from None


def _integer(value: str) -> int:
    text = value.strip()
    if re.fullmatch(r"[+-]?\d+(\.0+)?", text):
        return int(float(text)) if "." in text else int(text)
    raise BadValue(f"{value!r} is not a whole number", code="value_number", params={"value": value})


def _count(value: str) -> int:
    number = _integer(value)
    if not 1 <= number <= MAX_COUNT_PER_ROW:
        raise BadValue(
            f"count {number} is out of range; use 1 to {MAX_COUNT_PER_ROW}",
            code="value_count",
            params={"value": number, "max": MAX_COUNT_PER_ROW},
        )
    return number


def _seed(value: str) -> int:
    number = _integer(value)
    if number < 0 or number >= 2**63:
        raise BadValue(
            f"seed {number} is out of range; use 0 or more",
            code="value_seed",
            params={"value": number},
        )
    return number


def _references(value: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in re.split(r"[;；\r\n]+", value) if p.strip())
    if len(parts) > MAX_REFERENCE_IMAGES:
        raise BadValue(
            f"{len(parts)} reference images; use at most {MAX_REFERENCE_IMAGES}",
            code="value_references",
            params={"n": len(parts), "max": MAX_REFERENCE_IMAGES},
        )
    return parts


COLUMNS = (
    Column("prompt", "prompt", "提示词", _text, "Required. What to draw.", "必填。要生成的内容。"),
    Column(
        "negative_prompt",
        "negative_prompt",
        "负面提示词",
        _text,
        "What to avoid.",
        "不希望出现的内容。",
        ("negative prompt", "negative"),
    ),
    Column(
        "aspect_ratio",
        "aspect_ratio",
        "图片比例",
        _ratio,
        "1:1 2:3 3:2 3:4 4:3 16:9 9:16 21:9",
        "1:1 2:3 3:2 3:4 4:3 16:9 9:16 21:9",
        ("aspect ratio", "ratio", "比例"),
    ),
    Column(
        "resolution",
        "resolution",
        "分辨率",
        _resolution,
        "1K, 2K or 4K.",
        "1K、2K 或 4K。",
        ("size",),
    ),
    Column(
        "count",
        "count",
        "生成数量",
        _count,
        "Images for this row, 1–10 (default 1).",
        "本行生成张数，1–10（默认 1）。",
        ("数量",),
    ),
    Column(
        "filename",
        "filename",
        "文件名",
        _text,
        "Output file name (made safe and unique).",
        "输出文件名（自动去除非法字符并去重）。",
        ("file name", "name"),
    ),
    Column(
        "reference_images",
        "reference_images",
        "参考图",
        _references,
        "0–4 image paths (relative to the table) or URLs, separated by ; or new lines.",
        "0–4 张参考图路径（相对表格所在目录）或网址，用 ; 或换行分隔。",
        ("reference images", "references", "参考图片"),
    ),
    Column(
        "seed",
        "seed",
        "种子",
        _seed,
        "Whole number ≥ 0 for repeatable results.",
        "随机种子，≥ 0 的整数。",
        ("随机种子",),
    ),
    Column(
        "provider",
        "provider",
        "服务商",
        _text,
        "Provider for this row (default: the batch's).",
        "本行使用的服务商（默认沿用批次设置）。",
        ("平台",),
    ),
    Column(
        "model",
        "model",
        "模型",
        _text,
        "Model for this row (default: the provider's).",
        "本行使用的模型（默认沿用批次设置）。",
    ),
)


def _normal(header: str) -> str:
    return re.sub(r"[\s_\-]+", " ", header.strip().lower())


HEADERS: dict[str, Column] = {
    _normal(name): column
    for column in COLUMNS
    for name in (column.english, column.chinese, *column.aliases)
}


def column_for(header: str) -> Column | None:
    return HEADERS.get(_normal(header))
