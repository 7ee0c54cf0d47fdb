"""/api/presets and /api/config: what a client needs to build its forms."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from imagebatch.api.deps import AppDep, CurrentUser
from imagebatch.api.errors import responses
from imagebatch.api.views import PresetOut
from imagebatch.domain.capabilities import ModelCapabilities
from imagebatch.domain.credits import from_micros
from imagebatch.domain.pricing import price_of
from imagebatch.domain.specs import MAX_COUNT_PER_ROW, MAX_REFERENCE_IMAGES, AspectRatio, Resolution
from imagebatch.providers.base import BatchJobs, ImageProvider

router = APIRouter(tags=["catalog"])


class ModelOut(BaseModel):
    name: str
    default: bool
    modes: list[str]
    aspect_ratios: list[str]
    resolutions: list[str]
    max_reference_images: int
    seed: bool
    negative_prompt: bool
    price_per_image: float
    description: str
    #: provider parameters and their allowed values
    params: dict[str, list[str]]


class ProviderOut(BaseModel):
    name: str
    #: whether the server has what it needs (keys, base URL) to use it
    configured: bool
    default_model: str
    #: any model name is accepted (self-hosted servers)
    any_model: bool
    models: list[ModelOut]
    #: share of the price an economy batch saves (its batch jobs); null: no economy mode
    batch_discount: float | None
    #: users may store their own API key for it (/api/auth/provider-keys)
    own_keys: bool


class LimitsOut(BaseModel):
    max_upload_files: int
    max_image_bytes: int
    max_tasks_per_batch: int
    max_reference_images: int
    max_count_per_row: int
    #: characters a prompt (or negative prompt) may have: IMAGEBATCH_MAX_PROMPT_CHARS
    max_prompt_chars: int


class ConfigOut(BaseModel):
    limits: LimitsOut
    aspect_ratios: list[str]
    resolutions: list[str]
    providers: list[ProviderOut]
    credits: float


def _model(model: ModelCapabilities, default: str, price: float) -> ModelOut:
    ratios = [r.value for r in AspectRatio if r in model.aspect_ratios]
    return ModelOut(
        name=model.name,
        default=model.name == default,
        modes=sorted(m.value for m in model.modes),
        aspect_ratios=ratios,
        resolutions=[r.value for r in Resolution if r in model.resolutions],
        max_reference_images=model.max_reference_images,
        seed=model.seed,
        negative_prompt=model.negative_prompt,
        price_per_image=price,
        description=model.description,
        params={name: sorted(values) for name, values in model.params.items()},
    )


def takes_own_keys(provider: ImageProvider) -> bool:
    """Whether a user may bring their own key for it (providers with a key pool do)."""
    return getattr(provider, "keys", None) is not None


@router.get("/api/presets", responses=responses(401))
async def presets(_user: CurrentUser, app: AppDep) -> list[PresetOut]:
    """Active prompt presets, in the admin's order."""
    return [PresetOut.of(p) for p in await app.presets.ordered(active_only=True)]


@router.get("/api/config", responses=responses(401))
async def config(user: CurrentUser, app: AppDep) -> ConfigOut:
    """Limits, providers, models, what each model can do and costs, your credits."""
    runtime = await app.runtime_settings.current()
    providers = []
    for name, provider in sorted(app.providers.items()):
        caps = provider.capabilities
        models = [
            _model(m, caps.default_model, price_of(caps, m.name, app.settings.prices))
            for m in caps.models.values()
        ]
        providers.append(
            ProviderOut(
                name=name,
                configured=provider.configured,
                default_model=caps.default_model,
                any_model=caps.any_model,
                models=models,
                batch_discount=provider.batch_discount if isinstance(provider, BatchJobs) else None,
                own_keys=takes_own_keys(provider),
            )
        )
    return ConfigOut(
        limits=LimitsOut(
            max_upload_files=runtime.max_upload_files,
            max_image_bytes=runtime.max_image_bytes,
            max_tasks_per_batch=runtime.max_tasks_per_batch,
            max_reference_images=MAX_REFERENCE_IMAGES,
            max_count_per_row=MAX_COUNT_PER_ROW,
            max_prompt_chars=app.settings.max_prompt_chars,
        ),
        aspect_ratios=[r.value for r in AspectRatio],
        resolutions=[r.value for r in Resolution],
        providers=providers,
        credits=from_micros((await app.users.get(user.id)).balance),
    )
