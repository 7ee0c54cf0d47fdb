"""What a provider's models can do, and checking a TaskSpec against it before anything is spent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from imagebatch.domain.specs import AspectRatio, Mode, Resolution, TaskSpec
from imagebatch.errors import InputIssue

ALL_RATIOS = frozenset(AspectRatio)
ALL_RESOLUTIONS = frozenset(Resolution)


@dataclass(frozen=True, slots=True)
class ParamConflict:
    """Parameter values a model refuses together (each allowed alone), and what to do instead."""

    values: Mapping[str, str]
    hint: str


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    name: str
    modes: frozenset[Mode] = frozenset(Mode)
    max_reference_images: int = 4
    aspect_ratios: frozenset[AspectRatio] = ALL_RATIOS
    resolutions: frozenset[Resolution] = ALL_RESOLUTIONS
    seed: bool = True
    negative_prompt: bool = True
    #: credits (US dollars for commercial models) per output image, for estimates
    price_per_image: float = 0.0
    description: str = ""
    #: provider-specific parameters this model takes, with their allowed values
    params: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: combinations of those parameters' values the model refuses
    param_conflicts: tuple[ParamConflict, ...] = ()
    #: what to do when a task asks for a mode the model lacks (when more than "choose another")
    mode_hint: str = ""


@dataclass(frozen=True, slots=True)
class ProviderCapabilities:
    provider: str
    default_model: str
    models: Mapping[str, ModelCapabilities]
    #: any model name goes (a self-hosted server knows its own); it gets the default's abilities
    any_model: bool = False

    def model(self, name: str | None) -> ModelCapabilities | None:
        found = self.models.get(name or self.default_model)
        if found is None and self.any_model:
            return self.models[self.default_model]
        return found


def model_for(
    spec: TaskSpec, batch_provider: str, batch_model: str | None, caps: ProviderCapabilities
) -> str:
    """The model that runs `spec`, whose provider's capabilities are `caps`: the row's own
    model; else the batch's, when the row runs on the batch's provider; else the default of the
    provider the row names, because the batch's model is one of the batch provider's (a demo
    batch's row on openai must be checked, priced and run as openai's default, never as
    "openai/demo")."""
    if spec.model:
        return spec.model
    if (spec.provider or batch_provider) == batch_provider and batch_model:
        return batch_model
    return caps.default_model


def check_spec(
    spec: TaskSpec, mode: Mode, caps: ProviderCapabilities, model: str | None
) -> list[InputIssue]:
    """Every way `spec` asks for something the model cannot do."""
    where = spec.source or "task"
    request = spec.request
    found = caps.model(model)
    if found is None:
        known = ", ".join(sorted(caps.models))
        return [
            InputIssue(
                where,
                f"{caps.provider} has no model {model!r}",
                f"use one of: {known}",
                "unknown_model",
                {"provider": caps.provider, "model": str(model), "known": known},
            )
        ]
    issues: list[InputIssue] = []

    def refuse(problem: str, hint: str, code: str, **params: str | int) -> None:
        issues.append(InputIssue(where, problem, hint, code, {"model": found.name, **params}))

    if mode not in found.modes:
        hint = found.mode_hint or "choose another model or provider"
        refuse(f"model {found.name} cannot {mode.value} images", hint, code="model_mode")
    if request.aspect_ratio and request.aspect_ratio not in found.aspect_ratios:
        allowed = " ".join(sorted(r.value for r in found.aspect_ratios))
        problem = f"model {found.name} has no aspect ratio {request.aspect_ratio}"
        refuse(
            problem, f"use one of {allowed}", code="model_ratio", value=request.aspect_ratio.value
        )
    if request.resolution and request.resolution not in found.resolutions:
        allowed = " ".join(sorted(r.value for r in found.resolutions))
        problem = f"model {found.name} has no resolution {request.resolution}"
        resolution = request.resolution.value
        refuse(problem, f"use one of {allowed}", code="model_resolution", value=resolution)
    if request.negative_prompt and not found.negative_prompt:
        refuse(
            f"model {found.name} takes no negative prompt",
            "remove it or put 'avoid …' into the prompt itself",
            code="model_negative_prompt",
        )
    if request.seed is not None and not found.seed:
        refuse(f"model {found.name} takes no seed", "leave the seed empty", code="model_seed")
    issues += _check_params(request.params, found, where)
    if len(request.references) > found.max_reference_images:
        refuse(
            f"{len(request.references)} reference images, model {found.name} takes at most "
            f"{found.max_reference_images}",
            "remove some reference images",
            code="model_references",
            n=len(request.references),
            max=found.max_reference_images,
        )
    return issues


def _check_params(
    params: Mapping[str, object], model: ModelCapabilities, where: str
) -> list[InputIssue]:
    issues = []
    for name, value in params.items():
        choices = model.params.get(name)
        if choices is None:
            known = ", ".join(sorted(model.params)) or "none"
            issues.append(
                InputIssue(
                    where,
                    f"model {model.name} has no parameter {name!r}",
                    f"its parameters: {known}",
                    "unknown_param",
                    {"model": model.name, "name": name, "known": known},
                )
            )
        elif str(value) not in choices:
            issues.append(
                InputIssue(
                    where,
                    f"{name}={value!r} is not allowed",
                    f"use one of {' '.join(sorted(choices))}",
                    "param_value",
                    {"name": name, "value": str(value), "allowed": " ".join(sorted(choices))},
                )
            )
    for conflict in model.param_conflicts:
        if all(str(params.get(k)) == v for k, v in conflict.values.items()):
            together = " with ".join(f"{k}={v}" for k, v in conflict.values.items())
            problem = f"model {model.name} refuses {together}"
            said = {"model": model.name, "values": together}
            issues.append(InputIssue(where, problem, conflict.hint, "param_conflict", said))
    return issues
