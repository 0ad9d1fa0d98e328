"""A local evaluator of the CloudWatch Logs filter patterns that pick the audit lines for the audit
log group (orthweb.shared.telemetry.audit_line_patterns), so they are run as written against the
lines the harness logged.

Only the two forms those patterns use are understood, with the meaning the CloudWatch Logs User
Guide gives them ("Filter pattern syntax for metric filters, subscription filters, filter log
events, and Live Tail"):
- a JSON pattern `{ ($.a = *) || ($.b = *) }`: the event is a JSON object in which one of the named
  fields is present (with any value but null);
- a regex pattern `%...%`, matched anywhere in the event unless anchored, written with letters,
  digits, the symbols `: _ # = @ / ; , -` and the operators `^ $ ? [ ] { } | \\ * + .` only
  ("Supported regular expressions (regex) syntax": no parentheses, no space, no other character).
Anything else is an error, so a pattern the evaluator cannot read fails its test instead of
matching nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

# What a regex filter pattern may contain besides letters and digits; the guide refuses any other character.
REGEX_SYMBOLS = frozenset(":_#=@/;,-") | frozenset("^$?[]{}|\\*+.")
_JSON_TERM = re.compile(r"^\(\$\.([A-Za-z_][A-Za-z0-9_.]*) = \*\)$")


class PatternError(ValueError):
    """A filter pattern outside the understood forms, or one CloudWatch Logs would refuse."""


def _regex(pattern: str) -> Callable[[str], bool]:
    body = pattern[1:-1]
    refused = sorted({c for c in body if not (c.isascii() and c.isalnum()) and c not in REGEX_SYMBOLS})
    if refused:
        raise PatternError(f"a regex filter pattern may not contain {refused}")
    compiled = re.compile(body)
    return lambda message: compiled.search(message) is not None


def _field(event: object, path: str) -> object:
    for part in path.split("."):
        if not isinstance(event, dict) or part not in event:
            return None
        event = event[part]
    return event


def _json(pattern: str) -> Callable[[str], bool]:
    terms = [t.strip() for t in pattern[1:-1].strip().split("||")]
    fields = []
    for term in terms:
        match = _JSON_TERM.match(term)
        if match is None:
            raise PatternError(f"JSON term not understood: {term!r}")
        fields.append(match.group(1))

    def matches(message: str) -> bool:
        try:
            event = json.loads(message)
        except ValueError:
            return False
        return isinstance(event, dict) and any(_field(event, f) is not None for f in fields)

    return matches


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """The predicate a filter pattern applies to one log event's message."""
    if len(pattern) > 1024:
        raise PatternError("a filter pattern is at most 1,024 characters")
    if len(pattern) > 2 and pattern.startswith("%") and pattern.endswith("%"):
        return _regex(pattern)
    if pattern.startswith("{") and pattern.endswith("}"):
        return _json(pattern)
    raise PatternError(f"filter pattern not understood: {pattern!r}")
