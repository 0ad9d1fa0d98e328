"""What evaluating the program costs: wall time and peak memory of `plan` and of the test suite."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orthweb.evaluate import PROJECT_ROOT


@dataclass(frozen=True)
class CommandCost:
    label: str
    runs: int
    wall_seconds_median: float
    peak_rss_mb_max: float
    exit_status: int

    def to_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "runs": self.runs,
            "wall_seconds_median": round(self.wall_seconds_median, 2),
            "peak_rss_mb": round(self.peak_rss_mb_max, 1),
            "exit_status": self.exit_status,
        }


# Run by path in its own small interpreter (see its docstring for why).
PEAK_RSS_SCRIPT = Path(__file__).with_name("peak_rss.py")


def _run_once(argv: Sequence[str], timeout: float) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit status) of one run of `argv`."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-I", str(PEAK_RSS_SCRIPT), *argv],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
        text=True,
        start_new_session=True,
    )
    try:
        report, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Bounded: a hung command is killed with its whole process group (the exit status says so).
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return time.perf_counter() - started, 0.0, -signal.SIGKILL
    elapsed = time.perf_counter() - started
    peak_kib, exit_status = (int(field) for field in report.split())
    return elapsed, peak_kib / 1024, exit_status


def measure(label: str, argv: Sequence[str], runs: int, timeout: float = 1800) -> CommandCost:
    results = [_run_once(argv, timeout) for _ in range(runs)]
    return CommandCost(
        label=label,
        runs=runs,
        wall_seconds_median=statistics.median(r[0] for r in results),
        peak_rss_mb_max=max(r[1] for r in results),
        exit_status=max(r[2] for r in results),
    )


def plan_cost(runs: int) -> CommandCost:
    return measure("python -m orthweb plan", [sys.executable, "-m", "orthweb", "plan"], runs, timeout=300)


def suite_cost(paths: Sequence[str]) -> CommandCost:
    label = "pytest " + " ".join(paths)
    return measure(label, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths], 1)
