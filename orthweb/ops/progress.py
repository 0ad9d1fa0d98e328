"""Progress of a long operator command: numbered steps with their timings, and a spinner (on a
terminal) or a plain line every so often (in a log) while waiting."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class StepTiming:
    title: str
    seconds: float
    outcome: str


class Reporter:
    """Numbered steps with timings; a spinner while waiting on a TTY, plain lines otherwise."""

    SPINNER = "|/-\\"

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        plain_every: float = 15.0,
    ) -> None:
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.clock = clock
        self.plain_every = plain_every
        self.timings: list[StepTiming] = []
        self._spin = 0
        self._last_plain: dict[str, float] = {}
        self._dirty = False

    def say(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)

    @contextmanager
    def step(self, title: str) -> Iterator[dict[str, str]]:
        """Report `title` as the next step; the body may set `["text"]` to say how it ended."""
        number = len(self.timings) + 1
        self.say(f"[{number}] {title} ...")
        outcome = {"text": "done"}
        started = self.clock()
        try:
            yield outcome
        except BaseException:
            seconds = self.clock() - started
            self.timings.append(StepTiming(title, seconds, "failed"))
            self.say(f"[{number}] {title}: failed after {seconds:.2f} s")
            raise
        seconds = self.clock() - started
        self.timings.append(StepTiming(title, seconds, outcome["text"]))
        self.say(f"[{number}] {title}: {outcome['text']} ({seconds:.2f} s)")

    def waiting(self, what: str, elapsed: float, detail: str = "") -> None:
        suffix = f" - {detail}" if detail else ""
        if self.interactive:
            mark = self.SPINNER[self._spin % len(self.SPINNER)]
            self._spin += 1
            self.stream.write(f"\r    {mark} {what} ({elapsed:.0f} s){suffix}\033[K")
            self.stream.flush()
            self._dirty = True
            return
        last = self._last_plain.get(what)
        if last is None or elapsed - last >= self.plain_every:
            self._last_plain[what] = elapsed
            print(f"    {what} ({elapsed:.0f} s){suffix}", file=self.stream, flush=True)

    def _clear(self) -> None:
        if self._dirty:
            self.stream.write("\r\033[K")
            self._dirty = False
