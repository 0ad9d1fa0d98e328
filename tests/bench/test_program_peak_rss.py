"""The program cost's peak memory is the command's own, not that of the process measuring it."""

from __future__ import annotations

import sys

from tools.bench import program

MIB = 1024 * 1024
ALLOCATE_150_MIB = "x = bytearray(150 * 1024 * 1024)\nfor i in range(0, len(x), 4096): x[i] = 1"


def test_each_command_reports_its_own_peak_even_from_a_large_parent() -> None:
    # Linux carries the parent's resident-set high-water mark into a child it forks: with this
    # parent holding 300 MiB, a command started straight from it would report at least that.
    ballast = bytearray(300 * MIB)
    for offset in range(0, len(ballast), 4096):
        ballast[offset] = 1
    small = program.measure("small", [sys.executable, "-c", "pass"], 1)
    large = program.measure("large", [sys.executable, "-c", ALLOCATE_150_MIB], 1)
    assert small.peak_rss_mb_max < 60, small
    assert 150 <= large.peak_rss_mb_max < 250, large
    assert len(ballast) == 300 * MIB


def test_the_exit_status_and_a_timeout_are_reported() -> None:
    assert program.measure("fails", [sys.executable, "-c", "raise SystemExit(3)"], 1).exit_status == 3
    hung = program.measure("hangs", [sys.executable, "-c", "import time; time.sleep(60)"], 1, timeout=2)
    assert hung.exit_status == -9
