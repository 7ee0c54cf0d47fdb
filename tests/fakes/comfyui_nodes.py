"""The nodes the fake ComfyUI knows: their /object_info entries (shapes as ComfyUI 0.3.x serves
them) and how a graph is checked against them, with the real server's error shapes."""

from __future__ import annotations

from typing import Any

INT_SEED = [
    "INT",
    {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True},
]


def _int(default: int, low: int, high: int) -> list[Any]:
    return ["INT", {"default": default, "min": low, "max": high, "step": 1}]


def node_inputs(checkpoints: list[str], uploads: list[str]) -> dict[str, dict[str, Any]]:
    """Required inputs per class (the lists depend on the server's files)."""
    size = _int(512, 1, 16384)
    return {
        "KSampler": {
            "model": ["MODEL"],
            "seed": INT_SEED,
            "steps": _int(20, 1, 10000),
            "latent_image": ["LATENT"],
        },
        "CheckpointLoaderSimple": {"ckpt_name": [checkpoints]},
        "EmptyLatentImage": {"width": size, "height": size, "batch_size": _int(1, 1, 4096)},
        "EmptyImage": {
            "width": size,
            "height": size,
            "batch_size": _int(1, 1, 4096),
            "color": [
                "INT",
                {"default": 0, "min": 0, "max": 0xFFFFFF, "step": 1, "display": "color"},
            ],
        },
        "CLIPTextEncode": {"text": ["STRING", {"multiline": True}], "clip": ["CLIP"]},
        "VAEDecode": {"samples": ["LATENT"], "vae": ["VAE"]},
        "LoadImage": {"image": [sorted(uploads), {"image_upload": True}]},
        "ImageInvert": {"image": ["IMAGE"]},
        "SaveImage": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
        "PreviewImage": {"images": ["IMAGE"]},
    }


OUTPUT_NODES = {"SaveImage", "PreviewImage"}


def object_info(class_type: str, inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if class_type not in inputs:
        return {}
    return {
        class_type: {
            "input": {"required": inputs[class_type]},
            "input_order": {"required": list(inputs[class_type])},
            "output": [],
            "name": class_type,
            "display_name": class_type,
            "description": "",
            "python_module": "nodes",
            "category": "fake",
            "output_node": class_type in OUTPUT_NODES,
        }
    }


def invalid_prompt(message: str, details: str) -> dict[str, Any]:
    error = {"type": "invalid_prompt", "message": message, "details": details, "extra_info": {}}
    return {"error": error, "node_errors": {}}


def validate(graph: dict[str, Any], inputs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """None when the graph would run; else the 400 body ComfyUI answers."""
    for node_id, node in graph.items():
        if "class_type" not in node:
            return invalid_prompt(
                "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
            )
        if node["class_type"] not in inputs:
            return invalid_prompt(
                f"Cannot execute because node {node['class_type']} does not exist.",
                f"Node ID '#{node_id}'",
            )
    outputs = [i for i, node in graph.items() if node["class_type"] in OUTPUT_NODES]
    if not outputs:
        error = {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": ""}
        return {"error": {**error, "extra_info": {}}, "node_errors": {}}
    node_errors = {}
    for node_id, node in graph.items():
        errors = [
            e
            for name, value in (node.get("inputs") or {}).items()
            if (e := _input_error(name, value, inputs[node["class_type"]].get(name)))
        ]
        if errors:
            node_errors[node_id] = {
                "errors": errors,
                "dependent_outputs": outputs,
                "class_type": node["class_type"],
            }
    if not node_errors:
        return None
    error = {
        "type": "prompt_outputs_failed_validation",
        "message": "Prompt outputs failed validation",
        "details": "",
        "extra_info": {},
    }
    return {"error": error, "node_errors": node_errors}


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
    if kind == "INT":
        if not isinstance(value, int):
            return {
                "type": "invalid_input_type",
                "message": f"Failed to convert an input value to a INT value: {name}, {value}",
                "details": f"{name}, {value}",
                "extra_info": extra,
            }
        options = spec[1]
        if value > options["max"]:
            return {
                "type": "value_bigger_than_max",
                "message": f"Value {value} bigger than max of {options['max']}",
                "details": name,
                "extra_info": extra,
            }
    return None
