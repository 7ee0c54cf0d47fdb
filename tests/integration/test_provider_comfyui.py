"""The ComfyUI provider against a fake ComfyUI server on 127.0.0.1."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from imagebatch.domain.capabilities import check_spec
from imagebatch.domain.specs import AspectRatio, Mode, Resolution, TaskSpec
from imagebatch.errors import ConfigurationError, InvalidRequest, ProviderUnavailable
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import InputImage, ProviderRequest
from imagebatch.providers.comfyui import ComfyUIProvider, load_workflow
from tests.fakes.comfyui import FakeComfyUI

EDIT_WORKFLOW = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "{{input_image}}"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}"}},
    "3": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "denoise": 0.6}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}},
}


@pytest.fixture
def fake() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(polls_before_done=2) as server:
        yield server


def request(**fields: object) -> ProviderRequest:
    values: dict[str, object] = {"mode": Mode.GENERATE, "model": "workflow", "prompt": "a kite"}
    return ProviderRequest(**{**values, **fields})  # type: ignore[arg-type]


async def test_default_workflow_is_filled_queued_polled_and_fetched(fake: FakeComfyUI) -> None:
    client = ComfyUIProvider(fake.url, load_workflow(None), 10, poll_seconds=0.01)
    result = await client.generate(
        request(negative_prompt="blurry", aspect_ratio=AspectRatio.R3_2, resolution=Resolution.K1)
    )
    await client.aclose()
    [graph] = fake.graphs.values()
    assert graph["6"]["inputs"]["text"] == "a kite" and graph["7"]["inputs"]["text"] == "blurry"
    assert graph["5"]["inputs"]["width"] == 1024 and graph["5"]["inputs"]["height"] == 680
    assert isinstance(graph["3"]["inputs"]["seed"], int)
    assert probe_output(result.images[0].data) == ("image/png", 1024, 680)


async def test_copies_get_different_seeds_and_a_given_seed_is_kept(fake: FakeComfyUI) -> None:
    client = ComfyUIProvider(fake.url, load_workflow(None), 10, poll_seconds=0.01)
    for fields in ({"variant": 0}, {"variant": 1}, {"seed": 42}):
        await client.generate(request(**fields))
    await client.aclose()
    seeds = [g["3"]["inputs"]["seed"] for g in fake.graphs.values()]
    assert seeds[0] != seeds[1] and seeds[2] == 42


async def test_edit_uploads_the_input_image(fake: FakeComfyUI) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(buffer, "PNG")
    client = ComfyUIProvider(fake.url, EDIT_WORKFLOW, 10, poll_seconds=0.01)
    await client.generate(
        request(mode=Mode.EDIT, images=(InputImage(buffer.getvalue(), "image/png"),))
    )
    await client.aclose()
    [name] = fake.uploads
    [graph] = fake.graphs.values()
    assert graph["1"]["inputs"]["image"] == name


async def test_rejected_workflow_is_a_final_error(fake: FakeComfyUI) -> None:
    broken = {**EDIT_WORKFLOW, "1": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}}}
    client = ComfyUIProvider(fake.url, broken, 10, poll_seconds=0.01)
    with pytest.raises(InvalidRequest, match="node 1: Invalid image file"):
        await client.generate(request())
    await client.aclose()


async def test_execution_error_is_retryable(fake: FakeComfyUI) -> None:
    fake.fail_execution = "CUDA out of memory"
    client = ComfyUIProvider(fake.url, load_workflow(None), 10, poll_seconds=0.01)
    with pytest.raises(ProviderUnavailable, match="CUDA out of memory"):
        await client.generate(request())
    await client.aclose()


def test_capabilities_follow_the_workflow() -> None:
    default = ComfyUIProvider("http://x", load_workflow(None), 1).capabilities
    edit = ComfyUIProvider("http://x", EDIT_WORKFLOW, 1).capabilities
    spec = TaskSpec(prompt="x", negative_prompt="no", source="row 2")
    assert check_spec(spec, Mode.GENERATE, default, None) == []
    problems = [i.problem for i in check_spec(spec, Mode.EDIT, edit, None)]
    assert any("takes no negative prompt" in p for p in problems)
    assert any(
        "cannot edit" in p for p in [i.problem for i in check_spec(spec, Mode.EDIT, default, None)]
    )


def test_a_workflow_without_a_prompt_placeholder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"1": {"class_type": "X", "inputs": {}}}))
    with pytest.raises(ConfigurationError, match="must be API-format JSON"):
        load_workflow(path)
