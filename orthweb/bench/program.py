"""What evaluating the program costs: wall time and peak memory of `plan` and of the test suite."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

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


def _run_once(argv: Sequence[str], timeout: float) -> tuple[float, float, int]:
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy()
    )
    # Bounded: a hung child is killed (its exit status then says so).
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    try:
        # wait4 gives this child's own rusage (ru_maxrss in KiB on Linux), not a running maximum.
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        watchdog.cancel()
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, process.returncode


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
