"""Reading multipart uploads within limits: how many files, how large, streamed to disk.

The body is counted as it arrives and cut off past (files × size limit + room for fields), so
nobody can fill the disk. Each file goes to its own spooled temporary file (in memory up to
1 MB, on disk past it) as it arrives, and is held in memory only when it is used, one at a
time: the server's memory does not grow with the upload. A file over the per-file limit is
counted to the end but not kept: it is reported (its name, its size) and left out.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from tempfile import SpooledTemporaryFile
from typing import IO, TYPE_CHECKING, Any

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from imagebatch.api.errors import IssueOut
from imagebatch.api.limits import FIELDS_ALLOWANCE, capped, declared_length
from imagebatch.errors import InputError, InputIssue, TooLarge
from imagebatch.imaging.inputs import human_size

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

#: a file stays in memory up to this size, then moves to a temporary file on disk
SPOOL_BYTES = 1024 * 1024
#: file bytes gathered before they are written (off the event loop) to their files
WRITE_BATCH = 1024 * 1024
MAX_FIELDS = 100
#: Whole files are read into memory by this one thread: their buffers come from one malloc
#: arena and are reused, where a pool's threads would each keep their own high-water mark
#: (measured: four parallel 50 × 10 MB uploads: RSS +105–165 MB with to_thread, +47–71 MB so).
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-reader")


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Upload:
    """One uploaded file, spooled; read it with `read()` when it is used."""

    name: str
    file: IO[bytes]
    size: int

    def __post_init__(self) -> None:
        # An upload no route read or closed still gives its temporary file back.
        weakref.finalize(self, self.file.close)

    @property
    def basename(self) -> str:
        return basename(self.name)

    @property
    def label(self) -> str:
        """The name with any folders it came from (a dropped folder), never leaving it:
        `../x/a.png` is `x_a.png`. Two `a.png` from different folders stay two files."""
        parts = PurePosixPath(self.name.replace("\\", "/")).parts
        kept = [p for p in parts if p not in ("", ".", "..", "/") and not p.endswith(":")]
        return "_".join(kept) or "upload"

    async def read(self) -> bytes:
        """The whole file, read off the event loop (it may be on disk)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_READER, _read_all, self.file, self.size)

    def close(self) -> None:
        self.file.close()


def basename(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).name or "upload"


def _read_all(file: IO[bytes], size: int) -> bytes:
    file.seek(0)
    return file.read(size)  # sized: read into one buffer, not grown and joined


@dataclass
class Uploaded:
    fields: dict[str, str]
    files: dict[str, list[Upload]]
    #: files refused for their size, by form field; their bytes were not kept
    refused: dict[str, list[IssueOut]] = field(default_factory=dict)

    @property
    def oversize(self) -> list[IssueOut]:
        return [file for files in self.refused.values() for file in files]

    def close(self) -> None:
        for upload in (upload for uploads in self.files.values() for upload in uploads):
            upload.close()


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
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise _too_large(max_files, max_bytes)
    form = _Form(max_files, max_bytes)
    parser = MultipartParser(_boundary(request), form.callbacks())
    try:
        async for chunk in capped(
            request.stream(), limit, lambda: _too_large(max_files, max_bytes)
        ):
            parser.write(chunk)
            await form.write_pending(at_least=WRITE_BATCH)
        parser.finalize()
        await form.write_pending(at_least=0)
    except FormParserError:
        form.close()
        raise InputError(
            InputIssue(
                "body",
                "is not valid multipart/form-data",
                "send multipart/form-data",
                code="bad_multipart",
            )
        ) from None
    except BaseException:
        form.close()
        raise
    return form.uploaded()


def _boundary(request: Request) -> bytes:
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise InputError(
            InputIssue(
                "Content-Type",
                "has no multipart boundary",
                "send multipart/form-data",
                code="bad_multipart",
            )
        )
    return boundary


def _too_large(max_files: int, max_bytes: int) -> TooLarge:
    return TooLarge(
        f"the upload is too large: at most {max_files} files of "
        f"{max_bytes / 1_048_576:.0f} MB each per request",
        code="upload_limits",
        params={"files": max_files, "mb": round(max_bytes / 1_048_576)},
    )


@dataclass
class _Part:
    name: str
    filename: str | None
    text: bytearray = field(default_factory=bytearray)
    file: IO[bytes] | None = None
    #: bytes received, kept or not
    size: int = 0


class _Form:
    """python-multipart's callbacks: text fields kept (small), each file spooled as it
    arrives and dropped once it passes the per-file limit."""

    def __init__(self, max_files: int, max_bytes: int) -> None:
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.parts: list[_Part] = []
        self.header: tuple[bytes, bytes] = (b"", b"")
        self.disposition = b""
        self.pending: list[tuple[IO[bytes], bytes]] = []
        self.pending_bytes = 0
        self.text_bytes = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
        }

    def _begin(self) -> None:
        self.disposition = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.header = (self.header[0] + data[start:end], self.header[1])

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.header = (self.header[0], self.header[1] + data[start:end])

    def _header_end(self) -> None:
        if self.header[0].lower() == b"content-disposition":
            self.disposition = self.header[1]
        self.header = (b"", b"")

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if b"name" not in options:
            raise InputError(
                InputIssue(
                    "body",
                    "a part has no name",
                    "name every multipart/form-data field",
                    code="bad_multipart",
                )
            )
        filename = options.get(b"filename")
        part = _Part(_text(options[b"name"]), None if filename is None else _text(filename))
        self._check_counts(part)
        if part.filename is not None:
            part.file = SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (closed by close())
        self.parts.append(part)

    def _check_counts(self, part: _Part) -> None:
        files = sum(1 for p in self.parts if p.filename is not None)
        if part.filename is not None and files >= self.max_files:
            raise TooLarge(
                f"too many files: at most {self.max_files} per request",
                code="too_many_files",
                params={"max": self.max_files},
            )
        if part.filename is None and len(self.parts) - files >= MAX_FIELDS:
            raise InputError(
                InputIssue(
                    "body",
                    f"has more than {MAX_FIELDS} form fields",
                    "send fewer fields",
                    code="too_many_fields",
                    params={"max": MAX_FIELDS},
                )
            )

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self.parts[-1]
        part.size += end - start
        if part.file is None:
            self.text_bytes += end - start
            if self.text_bytes > FIELDS_ALLOWANCE:
                raise TooLarge(
                    f"the form fields are over {human_size(FIELDS_ALLOWANCE)}",
                    code="form_too_large",
                    params={"limit": human_size(FIELDS_ALLOWANCE)},
                )
            part.text += data[start:end]
        elif part.size <= self.max_bytes:
            self.pending.append((part.file, data[start:end]))
            self.pending_bytes += end - start

    async def write_pending(self, at_least: int) -> None:
        if self.pending_bytes < at_least or not self.pending:
            return
        pending, self.pending, self.pending_bytes = self.pending, [], 0
        await asyncio.to_thread(_write_all, pending)

    def uploaded(self) -> Uploaded:
        result = Uploaded({}, {})
        for part in self.parts:
            if part.file is None:
                result.fields[part.name] = _text(bytes(part.text))
            elif part.size > self.max_bytes:
                part.file.close()
                refused = result.refused.setdefault(part.name, [])
                refused.append(_oversize(part.filename or part.name, part.size, self.max_bytes))
            else:
                upload = Upload(part.filename or part.name, part.file, part.size)
                result.files.setdefault(part.name, []).append(upload)
        return result

    def close(self) -> None:
        for part in self.parts:
            if part.file is not None:
                part.file.close()


def _write_all(pending: list[tuple[IO[bytes], bytes]]) -> None:
    for file, data in pending:
        file.write(data)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _oversize(name: str, size: int, max_bytes: int) -> IssueOut:
    return IssueOut(
        where=basename(name),
        problem=f"is {human_size(size)}, over the {human_size(max_bytes)} limit",
        hint="shrink the image or ask an admin to raise the limit",
        code="file_too_large",
        params={
            "name": basename(name),
            "size": human_size(size),
            "limit": human_size(max_bytes),
        },
    )


def form_values(fields: dict[str, str], json_fields: frozenset[str]) -> dict[str, Any]:
    """Form fields as model input: empty fields are absent (a browser sends every input),
    and fields the model takes as objects or lists are JSON text."""
    values: dict[str, Any] = {k: v for k, v in fields.items() if v.strip()}
    for name in json_fields & values.keys():
        try:
            values[name] = json.loads(values[name])
        except json.JSONDecodeError as error:
            raise InputError(
                InputIssue(
                    name,
                    f"is not JSON ({error.msg})",
                    'e.g. {"quality": "high"}',
                    code="field_not_json",
                    params={"field": name},
                )
            ) from None
    return values
