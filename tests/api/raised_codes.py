"""The error and issue codes the server can answer, found in its source: every `code="…"`
given to a call (an InputIssue, an error, a FetchFailed…), the fourth argument of an
InputIssue or of imaging's `_refuse`, and every `code = "…"` a class sets as its default.
Codes are always written out in full for this search to find them (as catalogue keys are)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "imagebatch"
#: calls whose fourth positional argument is a code
_CODE_FOURTH = {"InputIssue", "_refuse"}


def raised_codes() -> dict[str, str]:
    """code → a file that raises it."""
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        for code in _codes_in(ast.parse(path.read_text(encoding="utf-8"))):
            found.setdefault(code, str(path.relative_to(SRC)))
    return found


def _codes_in(tree: ast.AST) -> list[str]:
    codes: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            codes += [_text(k.value) for k in node.keywords if k.arg == "code"]
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in _CODE_FOURTH and len(node.args) >= 4:
                codes.append(_text(node.args[3]))
        elif isinstance(node, ast.ClassDef):
            codes += [_text(value) for value in _class_defaults(node)]
    return [code for code in codes if code]


def _class_defaults(node: ast.ClassDef) -> list[ast.expr]:
    values: list[ast.expr] = []
    for statement in node.body:
        if isinstance(statement, ast.Assign) and _names(statement.targets) == ["code"]:
            values.append(statement.value)
        if isinstance(statement, ast.AnnAssign) and _names([statement.target]) == ["code"]:
            values += [statement.value] if statement.value is not None else []
    return values


def _names(targets: list[ast.expr]) -> list[str]:
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _text(node: ast.expr) -> str:
    """A literal code; "" for None (a default left to the type) or anything computed."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


def catalogue_keys(code: str) -> list[str]:
    """The keys the pages may look a code up by (lib/messages.js): an issue's message, its
    form for a row, an error's headline."""
    return [f"issue.{code}", f"issue.{code}_row", f"error.{code}", f"code.{code}"]
