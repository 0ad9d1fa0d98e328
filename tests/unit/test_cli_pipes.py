"""`plan | head` and `plan --json | head`: the command stops quietly when its reader goes away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_a_closed_pipe_ends_plan_without_a_traceback(extra: list[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "orthweb", "plan", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `head` exiting before plan prints: every write hits EPIPE
    errors = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
