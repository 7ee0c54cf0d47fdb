"""What the API accepts: request bodies, validated before anything is stored."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from imagebatch.domain.specs import AspectRatio, Resolution

Param = str | int | float | bool
MAX_SEED = 2**63 - 1
#: validation context key: the body came as multipart, with uploaded files
WITH_FILES = "with_files"
#: BatchIn fields only a JSON body takes (with files, rows and references are in the table)
JSON_ONLY = frozenset({"rows", "variables", "reference_images"})


class BatchOptions(BaseModel):
    """What every way of creating a batch shares."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    provider: str = Field(default="demo", min_length=1, max_length=50)
    model: str | None = Field(default=None, max_length=100)
    #: provider parameters, e.g. {"quality": "high"}
    params: dict[str, Param] = Field(default_factory=dict)
    #: at most IMAGEBATCH_MAX_PROMPT_CHARS characters (default 8,000), like every prompt
    negative_prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    #: POSTed, signed, when the batch ends (default: your account's webhook URL)
    webhook_url: AnyHttpUrl | None = None
    #: one discounted provider batch job where the provider offers it
    economy: bool = False
    #: take the output of an identical earlier request instead of paying again
    reuse: bool = False
    priority: int = Field(default=0, ge=-100, le=100)
    #: a preset's prompt goes before yours
    preset_id: int | None = Field(default=None, ge=1, le=MAX_SEED)


class BatchIn(BatchOptions):
    """A prompt template (with variables) × count, or rows like a task table's."""

    #: template: {name} variables, {a|b|c} alternatives, {{ }} for literal braces
    prompt: str | None = None
    #: values of the template's {name} variables
    variables: dict[str, list[str]] = Field(default_factory=dict)
    count: int = Field(default=1, ge=1, le=100)
    #: template mode: 0–4 references for every task: "asset:<id>" or an http(s) URL
    reference_images: list[str] = Field(default_factory=list, max_length=4)
    #: table mode: objects with the task-table columns (English or Chinese keys)
    rows: list[dict[str, Any]] | None = Field(default=None, max_length=10_000)

    @model_validator(mode="after")
    def _one_input(self, info: ValidationInfo) -> BatchIn:
        if (info.context or {}).get(WITH_FILES):
            return self  # multipart: the uploaded images or table are the input
        if (self.prompt is None) == (self.rows is None) and self.preset_id is None:
            raise ValueError("give either prompt (a template) or rows, not both or neither")
        return self


class EditIn(BaseModel):
    """Re-edit an image: a new task whose input is that image."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    provider: str = Field(default="demo", min_length=1, max_length=50)
    model: str | None = Field(default=None, max_length=100)
    params: dict[str, Param] = Field(default_factory=dict)
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    count: int = Field(default=1, ge=1, le=10)


#: how many ids one bulk request may name (a gallery's selection)
MAX_SELECTION = 1000
#: an id as stored (BIGINT identities)
SelectedId = Annotated[int, Field(ge=1, le=MAX_SEED)]


class ImageIdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_ids: list[SelectedId] = Field(min_length=1, max_length=MAX_SELECTION)


class HistoryIdsIn(BaseModel):
    """Tasks to take out of your history (POST /api/records/delete)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[SelectedId] = Field(min_length=1, max_length=MAX_SELECTION)


class TaskIdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_ids: list[SelectedId] = Field(min_length=1, max_length=MAX_SELECTION)


class EditManyIn(EditIn):
    """Edit several images with one prompt: one new batch, a task (or `count`) per image."""

    image_ids: list[SelectedId] = Field(min_length=1, max_length=MAX_SELECTION)


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class TokenIn(BaseModel):
    name: str = Field(default="API token", min_length=1, max_length=100)


class WebhookIn(BaseModel):
    #: your default webhook; null removes it
    url: AnyHttpUrl | None = None
    #: make a new signing secret (the old one stops working)
    rotate_secret: bool = False


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=8, max_length=1000)
