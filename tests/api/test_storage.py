"""Downloads on S3 storage: streamed through the server, or redirected to presigned URLs."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest
from PIL import Image

from imagebatch.config import Settings
from tests.api.conftest import Api
from tests.services import S3Server


@pytest.fixture(params=["streamed", "presigned"])
def api_settings(settings: Settings, s3: S3Server, request: pytest.FixtureRequest) -> Settings:
    storage = s3.settings(s3.new_bucket())
    storage["s3_presigned_downloads"] = request.param == "presigned"
    return Settings(**{**settings.model_dump(), **storage})


async def test_outputs_download_from_object_storage(api: Api, api_settings: Settings) -> None:
    await api.user("alice")
    async with api.session("alice") as alice:
        created = (await alice.post("/api/batches", json={"prompt": "p", "count": 2})).json()
        batch = await api.wait_batch(alice, created["batch"]["id"])
        task = (await alice.get(f"/api/batches/{batch['id']}/tasks")).json()["items"][0]
        answer = await alice.get(f"/api/images/{task['output_image_id']}/file?download=1")
        if api_settings.s3_presigned_downloads:
            assert answer.status_code == 307
            location = answer.headers["location"]
            assert "X-Amz-Signature" in location and location.startswith(
                api_settings.s3_endpoint_url or ""
            )
            async with httpx.AsyncClient() as anonymous:  # no session: the URL is the permission
                fetched = await anonymous.get(location)
            assert fetched.status_code == 200
            data = fetched.content
        else:
            assert answer.status_code == 200
            assert int(answer.headers["content-length"]) == len(answer.content)
            data = answer.content
        assert Image.open(io.BytesIO(data)).format == "JPEG"
        archive = await alice.get(f"/api/batches/{batch['id']}/download")
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        assert len(names) == 3 and "manifest.csv" in names
