from __future__ import annotations

import pytest

from imagebatch.domain.prompts import expand_template, parse_values_lines, parse_var
from imagebatch.errors import InputError


def test_variables_multiply_out_first_variable_outermost() -> None:
    prompts = expand_template(
        "a {colour} {animal}", {"colour": ["red", "blue"], "animal": ["cat", "dog"]}
    )
    assert prompts == ["a red cat", "a red dog", "a blue cat", "a blue dog"]


def test_inline_alternatives_combine_with_variables() -> None:
    prompts = expand_template("{animal} in {snow|rain}", {"animal": ["cat", "dog"]})
    assert prompts == ["cat in snow", "cat in rain", "dog in snow", "dog in rain"]


def test_double_braces_are_literal() -> None:
    assert expand_template('json {{"k": 1}} {a|b}', {}) == ['json {"k": 1} a', 'json {"k": 1} b']


@pytest.mark.parametrize("text", ["__wildcard__ here", "cost $$ 5", "[weight] #tag", "a, b: c"])
def test_other_template_syntax_stays_literal(text: str) -> None:
    assert expand_template(text, {}) == [text]


def test_values_with_braces_or_pipes_are_not_expanded_again() -> None:
    assert expand_template("x {v}", {"v": ["a|b", "{c}"]}) == ["x a|b", "x {c}"]


def test_chinese_variable_names_and_values() -> None:
    assert expand_template("一只{动物}", {"动物": ["猫", "狗"]}) == ["一只猫", "一只狗"]


def test_guard_counts_before_expanding() -> None:
    variables = {f"v{i}": [str(n) for n in range(10)] for i in range(9)}  # 10^9 prompts
    template = " ".join(f"{{v{i}}}" for i in range(9))
    with pytest.raises(InputError, match="1,000,000,000 tasks, the limit is 10,000"):
        expand_template(template, variables)


def test_guard_includes_count() -> None:
    with pytest.raises(InputError, match="12 tasks, the limit is 10"):
        expand_template("{a|b} {c|d|e}", {}, count=2, max_tasks=10)


@pytest.mark.parametrize(
    ("template", "variables", "message"),
    [
        ("a {animal}", {}, "{animal}: has no values"),
        ("a cat", {"animal": ["x"]}, "--var animal: is not used"),
        ("a {animal}", {"animal": []}, "--var animal: has no values"),
        ("a {cat|dog", {}, "unbalanced"),
        ("a {{x} }", {}, "unbalanced"),
        ("   ", {}, "the prompt is empty"),
    ],
)
def test_template_errors(template: str, variables: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("{", r"\{").replace("}", r"\}")):
        expand_template(template, variables)


def test_parse_var() -> None:
    assert parse_var("animal= cat , dog,bird ") == ("animal", ["cat", "dog", "bird"])
    assert parse_var(r"size=1\,5 m,2 m") == ("size", ["1,5 m", "2 m"])
    with pytest.raises(InputError, match="is not name=a,b,c"):
        parse_var("animal")


def test_parse_values_lines() -> None:
    assert parse_values_lines("cat\n\n dog \n") == ["cat", "dog"]
