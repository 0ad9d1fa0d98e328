"""What is wrong with what the user gave: every answer about configuration is a `Problem`.

A check that refuses a value raises `ConfigError` carrying one or more Problems; each prints as one
line naming where the value came from (when known), the key, the value (unless any of it looks
secret: `orthweb.shared.redaction.shown`) and what is allowed, with an example when one helps.

Imports only `constants` and `redaction` (and, to name keys, the table of them), so every layer
that checks input may use it.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from orthweb.shared import redaction
from orthweb.shared.constants import PROJECT

# The key of a problem with the stack's name (it is not a config key).
STACK_NAME = "(stack name)"
# A run reports every problem it finds, up to this many lines (then how many more there are).
MOST_SHOWN = 10
# How a source names a `--set` (`--set alarmEmails`), and how it names a place in a stack file.
SET_SOURCE = "--set "


@dataclass(frozen=True)
class Problem:
    """One bad input: the key as the user writes it (`vpcCidr`, `deploymentOptions.orthancReplicas`,
    `dicomModalities[2]`, `aws:region`, an option such as `--set`, or STACK_NAME), the value given
    (redaction.NOT_SHOWN when it must never be quoted), and what is allowed."""

    key: str
    value: Any
    allowed: str
    # A value that would be accepted (JSON-able), for keys whose shape is easy to get wrong.
    example: Any = None
    # Where the value came from (`--set vpcCidr`, `Pulumi.dev.yaml:4:3`); "" when not known.
    source: str = ""
    # The key `example` is a value of, when it is not `key` (`deploymentOptions.dbInstanceClass` for a
    # top-level `dbInstanceClass`).
    example_key: str | None = None

    def from_source(self, source: str) -> Problem:
        return replace(self, source=source)

    def line(self) -> str:
        """The problem as one line for the user, with nothing secret in it."""
        # Keys can come from the user's own JSON: escape line breaks so the message stays one line.
        key = _shown_key(self.key if self.key.isprintable() else json.dumps(self.key)[1:-1])
        if self.key == STACK_NAME:
            where = "stack name"
        elif self.key.startswith("--"):
            where = f"option {key}"
        else:
            where = f"config {qualified_key(key)}"
        value = self.value if self.value == redaction.NOT_SHOWN else redaction.shown(self.value)
        allowed = self.allowed
        if self.example is not None:
            allowed += f", e.g. {example_as_written(self.example_key or self.key, self.example, self.source)}"
        origin = f"{redaction.scrub(self.source)}: " if self.source else ""
        return f"{origin}{where} = {value} is invalid: {redaction.scrub(allowed)}"


def example_as_written(key: str, example: Any, source: str) -> str:
    """`example` as the user would write it where the value came from: a `--set` option, a line of
    a stack file (YAML, here in flow style so it stays one line), or else JSON."""
    path = key.removeprefix(f"{PROJECT}:")
    if source.startswith(SET_SOURCE):
        text = example if isinstance(example, str) else json.dumps(example)
        return f"--set {shlex.quote(f'{path}={text}')}"
    if source.endswith(".yaml") or ".yaml:" in source:
        top, _, rest = path.partition(".")
        value = json.dumps(example)
        for name in reversed(rest.split(".") if rest else []):
            value = f"{{{name}: {value}}}"
        return f"{qualified_key(top)}: {value}"
    return json.dumps(example)


class ConfigError(ValueError):
    """The configuration cannot be used; `problems` says why, one line each."""

    def __init__(self, *problems: Problem) -> None:
        if not problems:
            raise TypeError("ConfigError needs at least one Problem")
        self.problems = problems
        lines = [problem.line() for problem in problems[:MOST_SHOWN]]
        if len(problems) > MOST_SHOWN:
            lines.append(f"... and {len(problems) - MOST_SHOWN} more problems of the same run")
        super().__init__("\n".join(lines))

    def with_sources(self, source_of: Callable[[str], str]) -> ConfigError:
        """The same problems, each naming where its value came from when it did not say already."""
        return ConfigError(*(p if p.source else p.from_source(source_of(p.key)) for p in self.problems))

    @classmethod
    def of(cls, key: str, value: Any, allowed: str, *, example: Any = None) -> ConfigError:
        """The error of one problem (the usual case), built in one call."""
        return cls(Problem(key, value, allowed, example=example))


def qualified_key(key: str) -> str:
    """A stack config key with its namespace: bare keys belong to this project (`orthweb:`)."""
    return key if ":" in key else f"{PROJECT}:{key}"


def _shown_key(key: str) -> str:
    """The key as a message may name it: made of the names orthweb knows, or reading as a name."""
    name = re.sub(r"\[\d+\]", "", key)
    if all(part in _known_names() for part in re.split(r"[.:]", name)):
        return key
    return key if redaction.plainly_benign(name) and redaction.kind_of_secret(name) is None else redaction.NOT_SHOWN


@cache
def _known_names() -> frozenset[str]:
    # Imported here, not at the top: the table's checks raise Problems, so it imports this module.
    from orthweb.config.keys import KEYS, OPTIONS

    rows = (*KEYS, *OPTIONS)
    fields = (name for row in rows for name in getattr(row.check, "FIELDS", ()))
    return frozenset({PROJECT, "aws", "region", *(row.name for row in rows), *fields})
