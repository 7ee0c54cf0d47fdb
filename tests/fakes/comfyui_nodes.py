"""The nodes the fake ComfyUI knows: their /object_info entries (shapes as ComfyUI 0.3.64
serves them, see recordings/comfyui/object_info_*.json) and how a graph is checked against
them, with the real server's 400 shapes (recordings/comfyui/prompt_400_*.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).parent / "recordings" / "comfyui"

ANY = ["*", {}]


def _int(default: int, low: int, high: int) -> list[Any]:
    return ["INT", {"default": default, "min": low, "max": high, "step": 1}]


def node_inputs(checkpoints: list[str], uploads: list[str]) -> dict[str, dict[str, Any]]:
    """Required inputs per class (the lists depend on the server's files): the real specs
    where recorded, then ours for the rest."""
    recorded = {name: dict(entry["input"]["required"]) for name, entry in RECORDED.items()}
    recorded["LoadImage"]["image"] = [sorted(uploads), {"image_upload": True}]
    return {**_own_inputs(checkpoints), **recorded}


def _own_inputs(checkpoints: list[str]) -> dict[str, dict[str, Any]]:
    """The classes not recorded (no model here to record them with, or test nodes)."""
    return {
        "CheckpointLoaderSimple": {
            "ckpt_name": [checkpoints, {"tooltip": "The name of the checkpoint (model) to load."}]
        },
        "CLIPTextEncode": {"text": ["STRING", {"multiline": True}], "clip": ["CLIP"]},
        "VAEDecode": {"samples": ["LATENT"], "vae": ["VAE"]},
        "ImageInvert": {"image": ["IMAGE"]},
        "ImageBlur": {"image": ["IMAGE"], "blur_radius": _int(1, 1, 31)},
        "PrimitiveString": {"value": ["STRING", {}]},
        # ComfyUI's own test nodes (tests/execution/testing_nodes/testing-pack)
        "TestSleep": {
            "value": ANY,
            "seconds": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 9999.0, "step": 0.01}],
        },
        "TestSyncError": {"value": ANY},
    }


OUTPUT_NODES = {"SaveImage", "PreviewImage"}


def _recorded_object_info() -> dict[str, dict[str, Any]]:
    """The classes whose /object_info the real server answered (recordings/comfyui)."""
    found = {}
    for path in RECORDINGS.glob("object_info_*.json"):
        body = json.loads(path.read_text("utf-8"))["exchanges"][0]["response"]["body"]
        found.update(body)
    return found


RECORDED = _recorded_object_info()


def object_info(class_type: str, inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """GET /object_info/{class}: the class's entry (the real one where it was recorded, with
    this server's files), or {} (200) for a class not installed."""
    if class_type not in inputs:
        return {}
    if class_type in RECORDED:
        entry = json.loads(json.dumps(RECORDED[class_type]))
        entry["input"]["required"] = inputs[class_type]
        return {class_type: entry}
    output = [] if class_type in OUTPUT_NODES else ["IMAGE"]
    return {
        class_type: {
            "input": {"required": inputs[class_type]},
            "input_order": {"required": list(inputs[class_type])},
            "output": output,
            "output_is_list": [False] * len(output),
            "output_name": output,
            "name": class_type,
            "display_name": class_type,
            "description": "",
            "python_module": "nodes",
            "category": "fake",
            "output_node": class_type in OUTPUT_NODES,
        }
    }


def refusal(kind: str, message: str, details: str, node_errors: Any = None) -> dict[str, Any]:
    error = {"type": kind, "message": message, "details": details, "extra_info": {}}
    return {"error": error, "node_errors": node_errors or {}}


def validate(graph: dict[str, Any], inputs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """None when the graph would run; else the 400 body ComfyUI answers."""
    for node_id, node in graph.items():
        if "class_type" not in node:
            message = "Cannot execute because a node is missing the class_type property."
            return refusal("invalid_prompt", message, f"Node ID '#{node_id}'")
        if node["class_type"] not in inputs:
            message = f"Cannot execute because node {node['class_type']} does not exist."
            return refusal("invalid_prompt", message, f"Node ID '#{node_id}'")
    outputs = [i for i, node in graph.items() if node["class_type"] in OUTPUT_NODES]
    if not outputs:
        return refusal("prompt_no_outputs", "Prompt has no outputs", "")
    node_errors = {}
    details = ""
    for node_id, node in graph.items():
        errors = _node_errors(graph, node, inputs[node["class_type"]])
        if errors:
            node_errors[node_id] = {
                "errors": errors,
                "dependent_outputs": [node_id] if node_id in outputs else outputs,
                "class_type": node["class_type"],
            }
            if errors[0]["type"] == "exception_during_validation":
                details = f"Exception when validating node: {errors[0]['details']}"
    if not node_errors:
        return None
    return refusal(
        "prompt_outputs_failed_validation", "Prompt outputs failed validation", details, node_errors
    )


def _node_errors(
    graph: dict[str, Any], node: dict[str, Any], specs: dict[str, Any]
) -> list[dict[str, Any]]:
    for value in (node.get("inputs") or {}).values():
        if isinstance(value, list) and str(value[0]) not in graph:  # a link to nothing
            return [_exception_during_validation(str(value[0]))]
    if node["class_type"] == "LoadImage":  # LoadImage checks its file itself
        return _load_image_errors(node, specs)
    return [
        e
        for name, value in (node.get("inputs") or {}).items()
        if (e := _input_error(name, value, specs.get(name)))
    ]


def _exception_during_validation(missing: str) -> dict[str, Any]:
    frames = [
        f'  File "/comfyui/execution.py", line {line}, in {func}\n    <source line omitted>\n'
        for line, func in ((1010, "validate_prompt"), (788, "validate_inputs"))
    ]
    return {
        "type": "exception_during_validation",
        "message": "Exception when validating node",
        "details": f"'{missing}'",
        "extra_info": {"exception_type": "KeyError", "traceback": frames},
    }


def _load_image_errors(node: dict[str, Any], specs: dict[str, Any]) -> list[dict[str, Any]]:
    name = (node.get("inputs") or {}).get("image")
    if name in specs["image"][0]:
        return []
    return [
        {
            "type": "custom_validation_failed",
            "message": "Custom validation failed for node",
            "details": f"image - Invalid image file: {name}",
            "extra_info": {"input_name": "image"},
        }
    ]


def _input_error(name: str, value: Any, spec: list[Any] | None) -> dict[str, Any] | None:
    if spec is None or isinstance(value, list):  # unknown to us, or a link to another node
        return None
    kind = spec[0]
    extra = {"input_name": name, "input_config": spec, "received_value": value}
    if isinstance(kind, list) and value not in kind:
        return {
            "type": "value_not_in_list",
            "message": "Value not in list",
            "details": f"{name}: '{value}' not in {kind}",
            "extra_info": extra,
        }
    if kind not in ("INT", "FLOAT"):
        return None
    try:
        number = int(value) if kind == "INT" else float(value)
    except (TypeError, ValueError) as error:
        return {
            "type": "invalid_input_type",
            "message": f"Failed to convert an input value to a {kind} value",
            "details": f"{name}, {value}, {error}",
            "extra_info": {**extra, "exception_message": str(error)},
        }
    options = spec[1] if len(spec) > 1 else {}
    if "max" in options and number > options["max"]:
        message = f"Value {number} bigger than max of {options['max']}"
        return {"type": "value_bigger_than_max", "message": message, "details": name, **_x(extra)}
    if "min" in options and number < options["min"]:
        message = f"Value {number} smaller than min of {options['min']}"
        return {"type": "value_smaller_than_min", "message": message, "details": name, **_x(extra)}
    return None


def _x(extra: dict[str, Any]) -> dict[str, Any]:
    return {"extra_info": extra}
