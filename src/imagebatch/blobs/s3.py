"""Blobs as objects in an S3-compatible bucket (AWS S3, MinIO, R2, …), through boto3.

boto3 is blocking; every call runs in a thread (asyncio.to_thread). A boto3 client is
thread-safe, so one client serves all of them. Keys are the content keys under an optional
prefix. A single PUT is atomic in S3: readers see the whole object or none of it.
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from imagebatch.blobs.base import (
    CHUNK_SIZE,
    StoredObject,
    checked_key,
    is_content_key,
    open_in_thread,
)
from imagebatch.domain.disposition import disposition

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = {"404", "NoSuchKey", "NotFound"}


def parse_s3_url(url: str) -> tuple[str, str]:
    """s3://bucket/some/prefix -> ("bucket", "some/prefix/"); the prefix may be empty."""
    if not url.startswith("s3://"):
        raise ValueError(f"storage URL {url!r} is not s3://bucket/prefix")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"storage URL {url!r} names no bucket: s3://bucket/prefix")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class S3BlobStore:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        presign_seconds: int | None = None,
    ) -> None:
        """`presign_seconds` None: downloads stream through our server (no presigned URLs)."""
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.presign_seconds = presign_seconds

    def object_key(self, key: str) -> str:
        return self.prefix + checked_key(key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self.put_blocking, key, data)

    def put_blocking(self, key: str, data: bytes) -> None:
        mime = mimetypes.guess_type(key)[0] or "application/octet-stream"
        self.client.put_object(
            Bucket=self.bucket, Key=self.object_key(key), Body=data, ContentType=mime
        )

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            body = self._body(key)
            try:
                return body.read()
            finally:
                body.close()

        return await asyncio.to_thread(read)

    def read_chunks_blocking(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        body = self._body(key)
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    async def exists(self, key: str) -> bool:
        try:
            await self.size(key)
        except FileNotFoundError:
            return False
        return True

    async def delete(self, key: str) -> None:
        object_key = self.object_key(key)
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=object_key)

    async def size(self, key: str) -> int:
        object_key = self.object_key(key)
        try:
            head = await asyncio.to_thread(
                self.client.head_object, Bucket=self.bucket, Key=object_key
            )
        except ClientError as error:
            raise _missing_or(error, self.bucket, object_key) from error
        return head["ContentLength"]

    async def open_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        body = await open_in_thread(lambda: self._body(key))
        try:
            while chunk := await asyncio.to_thread(body.read, chunk_size):
                yield chunk
        finally:
            body.close()

    def local_path(self, key: str) -> Path | None:
        checked_key(key)
        return None  # objects live in the bucket: the CLI copies them out

    def presigned_url(self, key: str, filename: str | None = None) -> str | None:
        object_key = self.object_key(key)
        if self.presign_seconds is None:
            return None
        params: dict[str, str] = {"Bucket": self.bucket, "Key": object_key}
        if filename:
            params["ResponseContentDisposition"] = disposition(filename)
        # Signing is local computation: no request, so no thread needed.
        return self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.presign_seconds
        )

    async def iter_keys(self) -> AsyncIterator[str]:
        async for stored in self.iter_objects():
            yield stored.key

    async def iter_objects(self) -> AsyncIterator[StoredObject]:
        token: str | None = None
        while True:
            page = await asyncio.to_thread(self._list_page, token)
            for item in page.get("Contents", []):
                key = item["Key"].removeprefix(self.prefix)
                if is_content_key(key):
                    yield StoredObject(key, item["LastModified"])
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def close(self) -> None:
        self.client.close()

    def _body(self, key: str) -> StreamingBody:
        object_key = self.object_key(key)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=object_key)
        except ClientError as error:
            raise _missing_or(error, self.bucket, object_key) from error
        return answer["Body"]

    def _list_page(self, token: str | None) -> Any:
        if token is None:
            return self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix)
        return self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=self.prefix, ContinuationToken=token
        )


def _missing_or(error: ClientError, bucket: str, object_key: str) -> Exception:
    """A missing object becomes FileNotFoundError, as for files; anything else stays."""
    if error.response.get("Error", {}).get("Code") in _MISSING:
        return FileNotFoundError(f"no object s3://{bucket}/{object_key}")
    return error
