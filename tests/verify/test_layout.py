"""verify shares the operator tools' AWS access and tag lookups, and never reaches into failover."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.python_source import parse

ROOT = Path(__file__).resolve().parents[2] / "orthweb"
VERIFY_FILES = [*sorted((ROOT / "ops" / "verify").glob("*.py")), ROOT / "commands" / "verify.py"]


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", VERIFY_FILES, ids=lambda p: p.name)
def test_verify_does_not_import_failover(path: Path) -> None:
    reached = sorted(m for m in imported_modules(path) if "failover" in m.split("."))
    assert not reached, f"{path.relative_to(ROOT.parent)} imports {reached}"


def test_failover_does_not_import_verify() -> None:
    for path in (ROOT / "ops" / "failover.py", ROOT / "commands" / "failover.py"):
        assert not [m for m in imported_modules(path) if m.startswith("orthweb.ops.verify")], path


def test_the_check_is_not_vacuous(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from orthweb.commands.failover import _selected_pulumi_stack\n")
    assert "orthweb.commands.failover" in imported_modules(sample)
