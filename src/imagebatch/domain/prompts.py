"""Prompt templates: `{name}` variables × their values, inline `{a|b|c}`, `{{ }}` literal braces.

Named variables are substituted first, because dynamicprompts (which expands the inline
alternatives) reads `{animal}` as a variant with one option.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from imagebatch.domain.specs import MAX_PROMPT_CHARS, prompt_issue
from imagebatch.errors import InputError, InputIssue

_NAME = r"[^\W\d]\w*"
_GROUP = re.compile(r"\{([^{}]*)\}")
_OPEN, _CLOSE = "\x00(", "\x00)"
# dynamicprompts syntax a prompt may contain by accident: keep it literal
_SPECIAL = {"__": "\x00u", "$$": "\x00d", "[": "\x00[", "]": "\x00]", "#": "\x00h"}


def expand_template(
    template: str,
    variables: Mapping[str, Sequence[str]],
    *,
    count: int = 1,
    max_tasks: int = 10_000,
    max_prompt_chars: int = MAX_PROMPT_CHARS,
) -> list[str]:
    """Every prompt the template stands for, first variable outermost."""
    if not template.strip():
        raise InputError(
            InputIssue("prompt", "the prompt is empty", "write a prompt", "empty_prompt")
        )
    _check_length(template, "prompt", max_prompt_chars)
    if count < 1:
        raise InputError(
            InputIssue("count", f"count is {count}", "use 1 or more", "count_too_small")
        )
    protected = _protected(template)
    used = _check(protected, variables)
    _guard(protected, variables, used, count, max_tasks)
    prompts: list[str] = []
    for values in itertools.product(*(variables[name] for name in used)):
        filled = protected
        for name, value in zip(used, values, strict=True):
            filled = filled.replace("{" + name + "}", _protect(value))
        prompts.extend(_alternatives(filled))
    expanded = [_restore(p) for p in prompts]
    for number, prompt in enumerate(expanded, start=1):
        issue = prompt_issue(prompt, f"prompt {number}", max_prompt_chars)  # values add length
        if issue is not None:
            variant = {**issue.params, "n": number}
            raise InputError(replace(issue, code="prompt_too_long_variant", params=variant))
    return expanded


def _check_length(prompt: str, where: str, max_chars: int) -> None:
    issue = prompt_issue(prompt, where, max_chars)
    if issue is not None:
        raise InputError(issue)


def template_variables(template: str) -> list[str]:
    """The `{name}` variables a template uses, in order of first use (not `{a|b}`, `{{x}}`)."""
    return _names(_protected(template))


def _names(protected: str) -> list[str]:
    return list(dict.fromkeys(g for g in _GROUP.findall(protected) if re.fullmatch(_NAME, g)))


def _protected(template: str) -> str:
    protected = template.replace("{{", _OPEN).replace("}}", _CLOSE)
    for key, value in _SPECIAL.items():
        protected = protected.replace(key, value)
    return protected


def _check(protected: str, variables: Mapping[str, Sequence[str]]) -> list[str]:
    if protected.count("{") != protected.count("}") or _unbalanced(protected):
        raise InputError(
            InputIssue(
                "prompt",
                "unbalanced { }",
                "close every {; write {{ and }} for braces",
                "unbalanced_braces",
            )
        )
    used = _names(protected)
    issues = [
        InputIssue(
            f"{{{name}}}",
            "has no values",
            f"pass --var {name}=a,b",
            "variable_no_values",
            {"name": name},
        )
        for name in used
        if name not in variables
    ]
    issues += [
        InputIssue(
            f"--var {name}",
            "is not used in the prompt",
            f"add {{{name}}} or drop it",
            "variable_unused",
            {"name": name},
        )
        for name in variables
        if name not in used
    ]
    issues += [
        InputIssue(
            f"--var {name}",
            "has no values",
            "give at least one value",
            "variable_no_values",
            {"name": name},
        )
        for name, values in variables.items()
        if not [v for v in values if v.strip()]
    ]
    if issues:
        raise InputError(issues)
    return used


def _unbalanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0 or depth > 1:
            return True
    return depth != 0


def _guard(
    protected: str,
    variables: Mapping[str, Sequence[str]],
    used: list[str],
    count: int,
    max_tasks: int,
) -> None:
    """Refuse before expanding: the product of all choices, times count, must fit."""
    sizes = [len(variables[name]) for name in used]
    sizes += [len(g.split("|")) for g in _GROUP.findall(protected) if g not in used]
    total = math.prod(sizes) * count
    if total > max_tasks:
        raise InputError(
            InputIssue(
                "prompt",
                f"expands to {total:,} tasks, the limit is {max_tasks:,}",
                "use fewer values or alternatives, a smaller count, or split the batch",
                "too_many_variants",
                {"n": total, "max": max_tasks},
            )
        )


def _alternatives(text: str) -> list[str]:
    if "{" not in text:
        return [text]
    # imported only for a template with alternatives: it takes 0.06 s (and pulls in jinja2)
    from dynamicprompts.generators import CombinatorialPromptGenerator

    generated = CombinatorialPromptGenerator().generate(text, max_prompts=None)
    return [str(p) for p in generated]


def _protect(value: str) -> str:
    value = value.replace("{", _OPEN).replace("}", _CLOSE)
    for key, replacement in _SPECIAL.items():
        value = value.replace(key, replacement)
    return value.replace("|", "\x00p")


def _restore(text: str) -> str:
    for key, value in _SPECIAL.items():
        text = text.replace(value, key)
    return text.replace(_OPEN, "{").replace(_CLOSE, "}").replace("\x00p", "|")


def parse_var(text: str) -> tuple[str, list[str]]:
    """`name=a,b,c` (a backslash keeps a comma: `a\\,b`)."""
    name, eq, raw = text.partition("=")
    name = name.strip()
    if not eq or not re.fullmatch(_NAME, name):
        raise InputError(
            InputIssue(
                f"--var {text}", "is not name=a,b,c", "e.g. --var animal=cat,dog", "bad_variable"
            )
        )
    values = [v.replace("\x00", ",").strip() for v in raw.replace("\\,", "\x00").split(",")]
    return name, [v for v in values if v]


def parse_values_lines(text: str) -> list[str]:
    """One value per line (the web form); blank lines are skipped."""
    return [line.strip() for line in text.splitlines() if line.strip()]
