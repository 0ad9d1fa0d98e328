"""A command whose prerequisites are missing says in one line what to run, and runs nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orthweb.commands import cli
from orthweb.ops.compliance.scan import CHECKOV_ENV

ROOT = Path(__file__).resolve().parents[2]
# Runs `main` of a module with one package made unimportable, as on a machine without it.
WITHOUT = """
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == {package!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
from {module} import main
sys.exit(main({argv!r}))
"""


def run_without(package: str, module: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    code = WITHOUT.format(package=package, module=module, argv=argv)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_check_without_checkov_says_what_to_run_before_evaluating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CHECKOV_ENV, str(tmp_path / "no-checkov"))
    monkeypatch.setattr("orthweb.commands.check.evaluate_or_report", lambda args: pytest.fail("evaluated first"))
    assert cli.main(["check"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "run scripts/setup --all" in line and CHECKOV_ENV in line


def test_a_command_without_its_python_packages_says_to_run_setup() -> None:
    done = run_without("pulumi", "orthweb.commands.cli", ["plan"])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "orthweb: Python package pulumi is missing: run scripts/setup (in a checkout), or reinstall orthweb with its "
        "dependencies"
    ]


def test_bench_without_the_test_extras_says_to_run_setup_test() -> None:
    done = run_without("pynetdicom", "tools.bench.__main__", ["--quick", "--out", "/dev/null"])
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["bench: Python package pynetdicom is missing: run scripts/setup --test"]
