"""A ComfyUI API-format workflow with placeholders: loading and checking it, what it lets the
provider accept, filling it in, and the range its seed inputs take.

Placeholders (strings in the workflow JSON): {{prompt}}, {{negative_prompt}}, {{seed}},
{{width}}, {{height}}, {{input_image}}. A value that is exactly "{{seed}}", "{{width}}" or
"{{height}}" becomes a number.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagebatch.domain.capabilities import ModelCapabilities, ProviderCapabilities
from imagebatch.domain.specs import Mode
from imagebatch.errors import ConfigurationError

DEFAULT_WORKFLOW = Path(__file__).parent / "workflows" / "sdxl_txt2img.json"
NUMBERS = {"{{seed}}", "{{width}}", "{{height}}"}
SEED = "{{seed}}"
#: the node that writes a file to ComfyUI's output folder; previews only go to temp/
SAVE_NODE = "SaveImage"
EDIT_ONLY_HINT = (
    "this ComfyUI workflow edits images ({{input_image}}): upload images to edit, or set "
    "IMAGEBATCH_COMFYUI_WORKFLOW to a text-to-image workflow"
)
GENERATE_ONLY_HINT = (
    "this ComfyUI workflow has no {{input_image}}, so it only generates: leave out the input "
    "images, or set IMAGEBATCH_COMFYUI_WORKFLOW to an edit workflow (LoadImage with "
    "{{input_image}})"
)
#: ComfyUI's own widest seed range (KSampler: 0 … 2^64 - 1); ours is derived within 2^48
WIDEST_SEED = (0, 2**64 - 1)


def load_workflow(path: Path | None) -> dict[str, Any]:
    source = path or DEFAULT_WORKFLOW
    try:
        workflow = json.loads(source.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"ComfyUI workflow {source}: {error}") from None
    check_workflow(workflow, str(source))
    return dict(workflow)


def check_workflow(workflow: object, source: str) -> None:
    """Refuse a workflow that cannot work: not API format, no prompt, nothing saved."""
    if not isinstance(workflow, dict) or not all(
        isinstance(node, dict) and "class_type" in node for node in workflow.values()
    ):
        raise ConfigurationError(
            f"ComfyUI workflow {source} must be API-format JSON (a node id → "
            '{"class_type", "inputs"} map): export it with "Save (API format)"'
        )
    if "{{prompt}}" not in json.dumps(workflow):
        raise ConfigurationError(
            f"ComfyUI workflow {source} must be API-format JSON containing a {{{{prompt}}}} value"
        )
    if not any(node.get("class_type") == SAVE_NODE for node in workflow.values()):
        raise ConfigurationError(
            f"ComfyUI workflow {source} has no {SAVE_NODE} node: ComfyUI only keeps images a "
            f"{SAVE_NODE} node writes (a preview is temporary); add one at the end"
        )


def capabilities_for(workflow: dict[str, Any]) -> ProviderCapabilities:
    """What the workflow's placeholders let the provider accept: an {{input_image}} workflow
    edits (and so needs an image), any other generates."""
    text = json.dumps(workflow)
    edits = "{{input_image}}" in text
    model = ModelCapabilities(
        name="workflow",
        modes=frozenset({Mode.EDIT} if edits else {Mode.GENERATE}),
        max_reference_images=0,
        seed=SEED in text,
        negative_prompt="{{negative_prompt}}" in text,
        description=(
            "your ComfyUI edit workflow: every task needs an input image"
            if edits
            else "your ComfyUI workflow (IMAGEBATCH_COMFYUI_WORKFLOW)"
        ),
        mode_hint=EDIT_ONLY_HINT if edits else GENERATE_ONLY_HINT,
    )
    return ProviderCapabilities("comfyui", "workflow", {"workflow": model})


def fill(node: Any, values: dict[str, Any]) -> Any:
    """The workflow with every placeholder replaced."""
    if isinstance(node, dict):
        return {key: fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [fill(value, values) for value in node]
    if isinstance(node, str):
        if node in NUMBERS:
            return values[node]
        for placeholder, value in values.items():
            node = node.replace(placeholder, str(value))
    return node


def seed_inputs(workflow: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(node id, class_type, input name) of every input whose value is {{seed}}."""
    return [
        (node_id, str(node["class_type"]), name)
        for node_id, node in workflow.items()
        for name, value in (node.get("inputs") or {}).items()
        if value == SEED
    ]


@dataclass(frozen=True, slots=True)
class SeedRange:
    low: int
    high: int
    #: which input set the tightest bound
    where: str = ""

    def draw(self, key: bytes) -> int:
        """A seed within the range, derived from `key` (reproducible, different per key)."""
        number = int.from_bytes(hashlib.sha256(key).digest()[:6], "big")
        return self.low + number % (self.high - self.low + 1)

    def fit(self, seed: int) -> int:
        """`seed` narrowed into the range: the engine derives seeds below 2^31 for every
        provider, and an input such as EmptyImage.color stops at 2^24 - 1."""
        if self.low <= seed <= self.high:
            return seed
        return self.low + (seed - self.low) % (self.high - self.low + 1)


def seed_range(limits: list[tuple[str, dict[str, Any]]]) -> SeedRange:
    """The range every seed input accepts, from each input's (where, object_info options)."""
    low, high = WIDEST_SEED
    where = ""
    for place, options in limits:
        if isinstance(options.get("min"), int | float):
            low = max(low, int(options["min"]))
        if isinstance(options.get("max"), int | float) and int(options["max"]) < high:
            high, where = int(options["max"]), place
    return SeedRange(low, max(low, high), where)


def input_options(object_info: dict[str, Any], class_type: str, name: str) -> dict[str, Any]:
    """An input's options ({"min", "max", …}) from GET /object_info/{class_type}'s answer."""
    inputs = (object_info.get(class_type) or {}).get("input") or {}
    for group in ("required", "optional"):
        spec = (inputs.get(group) or {}).get(name)
        if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict):
            return dict(spec[1])
    return {}
