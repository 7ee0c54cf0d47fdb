"""open_blob_store(settings): the folder store by default, S3 for an s3:// storage URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from imagebatch.blobs.base import BlobStore
from imagebatch.blobs.local import LocalBlobStore
from imagebatch.config import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def open_blob_store(settings: Settings) -> BlobStore:
    if not settings.storage_url:
        return LocalBlobStore(settings.blob_dir)
    # Imported only for S3: boto3 and botocore take a while to import, most setups use a folder.
    from imagebatch.blobs.s3 import S3BlobStore, parse_s3_url

    bucket, prefix = parse_s3_url(settings.storage_url)
    presign = settings.s3_presign_seconds if settings.s3_presigned_downloads else None
    return S3BlobStore(s3_client(settings), bucket, prefix, presign_seconds=presign)


def s3_client(settings: Settings) -> S3Client:
    import boto3
    from botocore.config import Config

    secret = settings.s3_secret_access_key
    # Custom endpoints (MinIO, a local server) rarely resolve bucket.host names: use paths.
    style: Literal["path", "auto"] = "path" if settings.s3_endpoint_url else "auto"
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": style},
        retries={"mode": "standard", "max_attempts": 5},
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region or None,
        aws_access_key_id=settings.s3_access_key_id or None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=config,
    )
