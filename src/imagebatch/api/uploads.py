"""Reading multipart uploads within limits: how many files, how large, streamed to disk.

The body is counted as it arrives and cut off past (files × size limit + room for fields),
so nobody can fill the disk; Starlette spools each file to a temporary file past 1 MB.
A file over the per-file limit is reported and left out without being read into memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from imagebatch.api.submit import Upload
from imagebatch.api.views import SkippedOut
from imagebatch.errors import InputError, InputIssue, TooLarge
from imagebatch.imaging.inputs import human_size

#: room for the text fields and multipart framing beside the files
FIELDS_ALLOWANCE = 1024 * 1024


@dataclass
class Uploaded:
    fields: dict[str, str]
    files: dict[str, list[Upload]]
    #: files refused for their size before being read
    oversize: list[SkippedOut]


#: OpenAPI: one uploaded file, and several
FILE = {"type": "string", "format": "binary"}
FILES = {"type": "array", "items": FILE}


def multipart_body(properties: dict[str, Any], json_model: str | None = None) -> dict[str, Any]:
    """openapi_extra for a route that reads its multipart body itself (read_multipart), so
    FastAPI cannot describe it; `json_model` names the schema of a JSON body it also takes."""
    content: dict[str, Any] = {}
    if json_model:
        content["application/json"] = {"schema": {"$ref": f"#/components/schemas/{json_model}"}}
    content["multipart/form-data"] = {"schema": {"type": "object", "properties": properties}}
    return {"requestBody": {"required": True, "content": content}}


async def read_multipart(request: Request, *, max_files: int, max_bytes: int) -> Uploaded:
    limit = max_files * max_bytes + FIELDS_ALLOWANCE
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(max_files, max_bytes)
    parser = MultiPartParser(
        request.headers,
        _capped(request.stream(), limit, max_files, max_bytes),
        max_files=max_files,
        max_fields=100,
    )
    try:
        form = await parser.parse()
    except MultiPartException as error:
        if error.message.startswith("Too many files"):
            raise TooLarge(f"too many files: at most {max_files} per request") from None
        raise InputError(InputIssue("body", error.message, "send multipart/form-data")) from None
    try:
        return await _split(form, max_bytes)
    finally:
        await form.close()


async def _capped(
    stream: AsyncIterator[bytes], limit: int, max_files: int, max_bytes: int
) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise _too_large(max_files, max_bytes)
        yield chunk


def _too_large(max_files: int, max_bytes: int) -> TooLarge:
    return TooLarge(
        f"the upload is too large: at most {max_files} files of "
        f"{max_bytes / 1_048_576:.0f} MB each per request"
    )


async def _split(form: FormData, max_bytes: int) -> Uploaded:
    fields: dict[str, str] = {}
    files: dict[str, list[Upload]] = {}
    oversize: list[SkippedOut] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            name = value.filename or key
            if value.size is not None and value.size > max_bytes:
                oversize.append(_oversize(name, value.size, max_bytes))
                continue
            files.setdefault(key, []).append(Upload(name, await value.read()))
        else:
            fields[key] = value
    return Uploaded(fields, files, oversize)


def _oversize(name: str, size: int, max_bytes: int) -> SkippedOut:
    return SkippedOut(
        where=Upload(name, b"").basename,
        problem=f"is {human_size(size)}, over the {human_size(max_bytes)} limit",
        hint="shrink the image or ask an admin to raise the limit",
    )


def options_from_fields(fields: dict[str, str]) -> dict[str, Any]:
    """Form fields as BatchOptions input: empty fields are absent, params is JSON."""
    values: dict[str, Any] = {k: v for k, v in fields.items() if v.strip()}
    if "params" in values:
        try:
            values["params"] = json.loads(values["params"])
        except json.JSONDecodeError as error:
            raise InputError(
                InputIssue("params", f"is not JSON ({error.msg})", 'e.g. {"quality": "high"}')
            ) from None
    return values
