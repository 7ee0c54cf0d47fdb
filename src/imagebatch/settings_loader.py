"""Settings read at start, where a mistake is one clear line: which variable, what is wrong,
an example of a good value. Never a traceback: a typo in the environment is not a bug."""

from __future__ import annotations

import json
import re

from pydantic import ValidationError
from pydantic_settings import SettingsError

from imagebatch.config import Settings
from imagebatch.errors import ConfigurationError

#: examples for settings whose default does not show the form a value takes
EXAMPLES: dict[str, str] = {
    "comfyui_base_url": "http://127.0.0.1:8188,http://gpu-box:8188",
    "openai_compatible_base_url": "http://127.0.0.1:8080/v1",
    "database_url": "postgresql://user@host/db",
    "storage_url": "s3://bucket/prefix",
    "provider_concurrency": '{"gemini": 4}',
    "provider_rpm": '{"openai": 5}',
    "key_rpm": '{"gemini": 10}',
    "key_concurrency": '{"openai": 2}',
    "prices": '{"openai/gpt-image-1": 0.167}',
    "economy_discount": '{"gemini": 0.5}',
    "forwarded_allow_ips": "10.0.0.5,192.168.1.0/24",
}
_FIELD_IN_SETTINGS_ERROR = re.compile(r'field "([a-z0-9_]+)"')


def load_settings() -> Settings:
    """Settings from the environment and imagebatch.toml; ConfigurationError, one line per
    wrong setting, if any is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        lines = [_line(str(e["loc"][0]), e["msg"], e.get("input")) for e in error.errors()]
        raise ConfigurationError("\n".join(lines)) from None
    except SettingsError as error:  # a JSON value that does not parse
        found = _FIELD_IN_SETTINGS_ERROR.search(str(error))
        name = found.group(1) if found else "?"
        raise ConfigurationError(_line(name, "is not valid JSON", None)) from None


def variable(name: str) -> str:
    return f"IMAGEBATCH_{name.upper()}"


def _line(name: str, problem: str, value: object) -> str:
    shown = f"={value!r}" if isinstance(value, str | int | float) else ""
    problem = problem.removeprefix("Value error, ")
    return f"{variable(name)}{shown}: {problem} (e.g. {variable(name)}={_example(name)})"


def _example(name: str) -> str:
    if name in EXAMPLES:
        return EXAMPLES[name]
    field = Settings.model_fields.get(name)
    default = field.default if field is not None else None
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, int | float | str) and str(default):
        return str(default)
    if isinstance(default, dict | list):
        return json.dumps(default)
    return "…"
