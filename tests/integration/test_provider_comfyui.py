"""The ComfyUI provider against a fake ComfyUI server on 127.0.0.1 that answers as 0.3.x does."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from imagebatch.domain.capabilities import check_spec
from imagebatch.domain.specs import AspectRatio, Mode, Resolution
from imagebatch.errors import (
    ConfigurationError,
    InvalidRequest,
    ProviderTimeout,
    ProviderUnavailable,
)
from imagebatch.imaging.inputs import probe_output
from imagebatch.providers.base import ImageBytes, ProviderRequest
from imagebatch.providers.comfyui import ComfyUIProvider, load_workflow
from tests.fakes.comfyui import FakeComfyUI
from tests.flat_requests import provider_request, task_spec
from tests.waiting import wait_until_async

EDIT_WORKFLOW = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "{{input_image}}"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["1", 0]}},
    "3": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}},
}
EMPTY_IMAGE = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {
            "width": "{{width}}",
            "height": "{{height}}",
            "batch_size": 1,
            "color": "{{seed}}",
        },
    },
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["1", 0]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "ib"}},
}


@pytest.fixture
def fake() -> Iterator[FakeComfyUI]:
    with FakeComfyUI() as server:
        yield server


def provider(
    fake: FakeComfyUI, workflow: dict[str, Any] | None = None, **kw: Any
) -> ComfyUIProvider:
    kw.setdefault("poll_seconds", 0.01)
    return ComfyUIProvider(fake.url, workflow or load_workflow(None), kw.pop("timeout", 10), **kw)


def request(**fields: object) -> ProviderRequest:
    values: dict[str, object] = {"mode": Mode.GENERATE, "model": "workflow", "prompt": "a kite"}
    return provider_request(**{**values, **fields})  # type: ignore[arg-type]


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), "red").save(buffer, "PNG")
    return buffer.getvalue()


async def test_default_workflow_is_filled_queued_and_fetched_with_its_seed(
    fake: FakeComfyUI,
) -> None:
    client = provider(fake)
    result = await client.generate(
        request(negative_prompt="blurry", aspect_ratio=AspectRatio.R3_2, resolution=Resolution.K1)
    )
    await client.aclose()
    [(prompt_id, graph)] = fake.graphs.items()
    assert graph["6"]["inputs"]["text"] == "a kite" and graph["7"]["inputs"]["text"] == "blurry"
    assert graph["5"]["inputs"]["width"] == 1024 and graph["5"]["inputs"]["height"] == 680
    assert result.seed == graph["3"]["inputs"]["seed"] and result.request_id == prompt_id
    assert probe_output(result.images[0].data) == ("image/png", 1024, 680)


async def test_copies_get_different_seeds_and_a_given_seed_is_kept(fake: FakeComfyUI) -> None:
    client = provider(fake)
    results = [
        await client.generate(request(**f)) for f in ({"variant": 0}, {"variant": 1}, {"seed": 42})
    ]
    await client.aclose()
    seeds = [g["3"]["inputs"]["seed"] for g in fake.graphs.values()]
    assert seeds[0] != seeds[1] and seeds[2] == 42
    assert [r.seed for r in results] == seeds


async def test_seeds_are_narrowed_to_the_inputs_limits_from_object_info(
    fake: FakeComfyUI,
) -> None:
    client = provider(fake, EMPTY_IMAGE)
    results = [await client.generate(request(variant=v)) for v in range(5)]
    given = await client.generate(request(seed=2**30 + 5))  # above EmptyImage.color's max
    await client.aclose()
    assert all(r.seed is not None and 0 <= r.seed <= 0xFFFFFF for r in results)
    assert len({r.seed for r in results}) == 5
    assert given.seed == 5 and list(fake.graphs.values())[-1]["1"]["inputs"]["color"] == 5
    info_calls = [r for r in fake.requests if r.path.startswith("/object_info/")]
    assert len(info_calls) == 1  # once per workflow


async def test_edit_uploads_the_input_image_and_inverts_it(fake: FakeComfyUI) -> None:
    client = provider(fake, EDIT_WORKFLOW)
    result = await client.generate(
        request(mode=Mode.EDIT, images=(ImageBytes(png(), "image/png"),))
    )
    await client.aclose()
    [name] = fake.uploads
    [graph] = fake.graphs.values()
    assert graph["1"]["inputs"]["image"] == name
    assert probe_output(result.images[0].data) == ("image/png", 20, 10)


async def test_an_edit_workflow_refuses_a_task_without_an_input_image(fake: FakeComfyUI) -> None:
    client = provider(fake, EDIT_WORKFLOW)
    spec = task_spec("x", source="row 2")
    [issue] = check_spec(spec, Mode.GENERATE, client.capabilities, None)
    assert "cannot generate" in issue.problem
    assert "edits images ({{input_image}}): upload images to edit" in issue.hint
    with pytest.raises(InvalidRequest, match=r"edits an image \(\{\{input_image\}\}\).*has none"):
        await client.generate(request())
    await client.aclose()
    assert fake.graphs == {}  # no literal {{input_image}} was queued


async def test_a_refusal_shows_node_class_message_and_details() -> None:
    with FakeComfyUI(checkpoints=[]) as fake:
        client = provider(fake)
        with pytest.raises(InvalidRequest) as caught:
            await client.generate(request())
        await client.aclose()
    assert (
        "Prompt outputs failed validation; node 4 (CheckpointLoaderSimple): Value not in list: "
        "ckpt_name: 'sd_xl_base_1.0.safetensors' not in []" in caught.value.message
    )


async def test_an_unknown_node_is_refused_with_its_id(fake: FakeComfyUI) -> None:
    unknown = {**EMPTY_IMAGE, "3": {"class_type": "NoSuchNode", "inputs": {}}}
    client = provider(fake, unknown)
    with pytest.raises(InvalidRequest, match=r"node NoSuchNode does not exist\.: Node ID '#3'"):
        await client.generate(request())
    await client.aclose()


async def test_an_execution_error_is_final_and_says_where(fake: FakeComfyUI) -> None:
    fake.fail_execution = ("RuntimeError", "mat1 and mat2 shapes cannot be multiplied")
    client = provider(fake)
    with pytest.raises(InvalidRequest, match=r"node 3 \(KSampler\): RuntimeError: mat1"):
        await client.generate(request())
    await client.aclose()


async def test_out_of_memory_is_retried_once_then_final(fake: FakeComfyUI) -> None:
    client = provider(fake)
    fake.fail_execution = ("torch.OutOfMemoryError", "CUDA out of memory")
    with pytest.raises(ProviderUnavailable, match="CUDA out of memory"):
        await client.generate(request())
    fake.fail_execution = ("torch.OutOfMemoryError", "CUDA out of memory")
    with pytest.raises(InvalidRequest, match="CUDA out of memory"):
        await client.generate(request())
    await client.aclose()
    assert len(fake.graphs) == 2  # the retry queued a new generation of the prompt


async def test_a_workflow_that_saves_nothing_is_a_final_error(fake: FakeComfyUI) -> None:
    preview = {**EMPTY_IMAGE, "9": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    client = provider(fake, preview)
    with pytest.raises(InvalidRequest, match="without a SaveImage output"):
        await client.generate(request())
    await client.aclose()


async def test_a_retry_reuses_the_earlier_finished_prompt(fake: FakeComfyUI) -> None:
    first = provider(fake)
    again = provider(fake)  # another worker, after the first lost the task
    one = await first.generate(request())
    two = await again.generate(request())
    await first.aclose()
    await again.aclose()
    assert len(fake.graphs) == 1 and one.request_id == two.request_id
    assert one.images == two.images


async def test_a_retry_waits_for_the_earlier_prompt_still_running(fake: FakeComfyUI) -> None:
    first, again = provider(fake), provider(fake)
    fake.hold()
    running = asyncio.create_task(first.generate(request()))
    await asyncio.to_thread(fake.wait_running)
    waiting = asyncio.create_task(again.generate(request()))
    fake.release()
    one, two = await asyncio.gather(running, waiting)
    await first.aclose()
    await again.aclose()
    assert len(fake.graphs) == 1 and one.request_id == two.request_id


async def test_the_timeout_counts_from_when_the_prompt_starts_running(fake: FakeComfyUI) -> None:
    client = provider(fake, timeout=0.3)
    fake.hold()
    async with httpx.AsyncClient() as http:  # another client's prompt occupies the GPU
        await http.post(f"{fake.url}/prompt", json={"prompt": fake_graph()})
    task = asyncio.create_task(client.generate(request()))
    await asyncio.sleep(0.6)  # twice the timeout, all of it in ComfyUI's queue
    assert not task.done() and fake.queue_length() == 2
    fake.release()
    result = await task
    await client.aclose()
    assert result.images


async def test_a_prompt_running_too_long_is_interrupted(fake: FakeComfyUI) -> None:
    client = provider(fake, timeout=0.2)
    fake.hold()
    with pytest.raises(ProviderTimeout, match=r"ran longer than 0\.2 s"):
        await client.generate(request())
    await client.aclose()
    [prompt_id] = fake.graphs
    assert fake.interrupts == [{"prompt_id": prompt_id}]
    await asyncio.to_thread(fake.wait_idle)  # the interrupt ended it, with no release
    assert fake.entries[prompt_id]["status"]["messages"][-1][0] == "execution_interrupted"


async def test_cancel_deletes_pending_prompts_and_interrupts_the_running_one(
    fake: FakeComfyUI,
) -> None:
    client = provider(fake, backend_concurrency=3)
    fake.hold()
    tasks = [asyncio.create_task(client.generate(request(variant=v))) for v in range(3)]
    await asyncio.to_thread(fake.wait_running)
    await wait_until_async(
        fake.queue_length,
        lambda queued: queued >= 3,
        awaiting="the other two prompts in ComfyUI's queue",
    )
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.aclose()
    running = fake.executed[0]
    assert [body["prompt_id"] for body in fake.interrupts] == [running]
    assert set(fake.deleted) == set(fake.graphs)
    fake.release()
    async with httpx.AsyncClient() as http:
        queue = (await http.get(f"{fake.url}/queue")).json()
    assert queue["queue_pending"] == [] and fake.executed == [running]


async def test_a_prompt_deleted_on_the_server_before_it_ran_fails_at_once(
    fake: FakeComfyUI,
) -> None:
    client = provider(fake, timeout=30)
    fake.hold()
    async with httpx.AsyncClient() as http:  # another client's prompt occupies the GPU
        await http.post(f"{fake.url}/prompt", json={"prompt": fake_graph()})
    task = asyncio.create_task(client.generate(request()))
    await wait_until_async(
        fake.queue_length, lambda queued: queued >= 2, awaiting="our prompt in ComfyUI's queue"
    )
    [ours] = [p for p in fake.graphs if p != fake.executed[0]]
    async with httpx.AsyncClient() as http:  # someone deletes it in ComfyUI's own UI
        await http.post(f"{fake.url}/queue", json={"delete": [ours]})
    with pytest.raises(ProviderUnavailable, match="left the queue"):
        await asyncio.wait_for(task, 5)  # not polled until the 30 s timeout: its /history stays {}
    fake.release()
    await client.aclose()


async def test_a_retry_queues_anew_when_the_abandoned_prompt_it_found_was_interrupted(
    fake: FakeComfyUI,
) -> None:
    first, again = provider(fake, timeout=0.2), provider(fake)
    fake.hold()
    with pytest.raises(ProviderTimeout):
        await first.generate(request())
    await first.aclose()
    fake.release()
    result = await again.generate(request())  # the retry: no attempt lost to the interrupt
    await again.aclose()
    earlier, retried = fake.executed
    assert fake.entries[earlier]["status"]["messages"][-1][0] == "execution_interrupted"
    assert result.request_id == retried != earlier and result.images


async def test_a_retry_never_queues_again_an_id_whose_run_succeeded(fake: FakeComfyUI) -> None:
    first, again = provider(fake), provider(fake)
    one = await first.generate(request())
    fake.executor.forget()  # other prompts ran since: ComfyUI's own cache lost it
    two = await again.generate(request())
    await first.aclose()
    await again.aclose()
    posted = [r for r in fake.requests if r.method == "POST" and r.path == "/prompt"]
    assert len(posted) == 1 and one.request_id == two.request_id == fake.executed[0]


async def test_the_pool_reads_queue_lengths_from_get_prompt(fake: FakeComfyUI) -> None:
    client = provider(fake)
    fake.hold()
    async with httpx.AsyncClient() as http:
        for _ in range(2):
            await http.post(f"{fake.url}/prompt", json={"prompt": fake_graph()})
    await asyncio.to_thread(fake.wait_running)
    [status] = await client.backend_statuses()
    fake.release()
    await client.aclose()
    assert status.queue_length == 2
    assert not any(r.path == "/queue" for r in fake.requests)  # never the heavy GET /queue


def fake_graph() -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0},
        },
        "9": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}},
    }


def test_capabilities_follow_the_workflow() -> None:
    default = ComfyUIProvider("http://x", load_workflow(None), 1).capabilities
    edit = ComfyUIProvider("http://x", EDIT_WORKFLOW, 1).capabilities
    spec = task_spec("x", negative_prompt="no", source="row 2")
    assert check_spec(spec, Mode.GENERATE, default, None) == []
    problems = [i.problem for i in check_spec(spec, Mode.EDIT, edit, None)]
    assert any("takes no negative prompt" in p for p in problems)
    assert any(
        "cannot edit" in p for p in [i.problem for i in check_spec(spec, Mode.EDIT, default, None)]
    )


@pytest.mark.parametrize(
    ("workflow", "message"),
    [
        ({"1": {"class_type": "SaveImage", "inputs": {}}}, "must be API-format JSON containing"),
        (
            {"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}"}}},
            "no SaveImage node",
        ),
        ([1, 2], "export it with"),
    ],
)
def test_a_workflow_that_cannot_work_is_refused(
    tmp_path: Path, workflow: object, message: str
) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps(workflow))
    with pytest.raises(ConfigurationError, match=message):
        load_workflow(path)
