"""A clock for code that waits: it reads as a time and sleeps by moving itself on, so a test of a
wait loop takes no time and can assert how long the loop would have waited."""

from __future__ import annotations


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
