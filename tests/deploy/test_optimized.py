"""The service runs `python -OO` (deploy/orge.service): docstrings and `assert`
statements are compiled out. That is safe only while ORGE's own asserts merely narrow
types for the checker (a check that must hold in the field raises an error of its own),
and while nothing ORGE runs needs a docstring."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO


def _narrows(test: ast.expr) -> bool:
    """`x is not None`, `isinstance(x, T)`, or such joined by `and`."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return all(_narrows(value) for value in test.values)
    if isinstance(test, ast.Compare):
        return (
            len(test.ops) == 1
            and isinstance(test.ops[0], ast.IsNot)
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value is None
        )
    return (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Name)
        and test.func.id == "isinstance"
    )


def test_runtime_asserts_only_narrow_types() -> None:
    sources = [*REPO.joinpath("orge").rglob("*.py"), *REPO.joinpath("components").rglob("*.py")]
    checks = []
    for path in sources:
        if "testing" in path.relative_to(REPO).parts:  # the test kit asserts by design
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Assert) and not _narrows(node.test):
                checks.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node.test)}")
    assert checks == [], "a check -OO would drop (raise an error instead):\n" + "\n".join(checks)


def test_commands_answer_without_docstrings() -> None:
    """Every command's help, as `python -OO` builds it (argparse descriptions taken from
    module docstrings would be None there)."""
    for command in (
        ["--help"],
        ["run", "--help"],
        ["update", "--help"],
        ["check-config", "--help"],
    ):
        result = subprocess.run(
            [sys.executable, "-OO", "-m", "orge", *command],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )
        assert result.returncode == 0, (command, result.stderr)
        assert "usage:" in result.stdout, command
