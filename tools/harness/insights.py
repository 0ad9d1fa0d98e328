"""A local evaluator of the CloudWatch Logs Insights commands `orthweb audit` writes, over recorded
log lines, so its query texts are run as written against what the harness logged.

Only the subset the audit queries use is understood, with Logs Insights' meaning (AWS CloudWatch
Logs User Guide, "CloudWatch Logs Insights query syntax"): `fields`, `filter` (`=`, `in [...]`,
`like /regex/`, `ispresent(...)`, joined by `or`), `parse @message /regex/` with named groups
(a line it does not match keeps its other fields), `sort @timestamp asc|desc` and `limit`. A JSON
event's fields are discovered as Logs Insights does: nested keys joined by `.`, list items by index,
and null values absent. Anything else in a query is an error, so a query the evaluator cannot read
fails its test instead of matching nothing.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable
from typing import Any

Record = dict[str, str]

_COMPARISON = re.compile(r'^([@\w.]+) = "([^"\\]*)"$')
_MEMBERSHIP = re.compile(r'^([@\w.]+) in \[((?:"[^"\\]*"(?:, )?)*)\]$')
_LIKE = re.compile(r"^([@\w.]+) like /(.*)/$")
_PRESENT = re.compile(r"^ispresent\(([@\w.]+)\)$")
_PARSE = re.compile(r"^parse @message /(.*)/$")


class QueryError(ValueError):
    """A query text outside the understood subset."""


def records(lines: Iterable[tuple[int, str]]) -> list[Record]:
    """(epoch milliseconds, raw line) -> what Logs Insights would see of each event."""
    found = []
    for timestamp, message in lines:
        record: Record = {"@timestamp": str(timestamp), "@message": message}
        if message.startswith("{"):
            with contextlib.suppress(ValueError):
                _flatten("", json.loads(message), record)
        found.append(record)
    return found


def _flatten(prefix: str, value: Any, into: Record) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, item, into)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(f"{prefix}.{index}", item, into)
    elif value is not None:
        into[prefix] = value if isinstance(value, str) else json.dumps(value)


def _python_regex(text: str) -> re.Pattern[str]:
    return re.compile(text.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!"))


def _term(term: str) -> Any:
    if match := _COMPARISON.match(term):
        field, value = match.groups()
        return lambda r: r.get(field) == value
    if match := _MEMBERSHIP.match(term):
        field, values = match.group(1), set(re.findall(r'"([^"\\]*)"', match.group(2)))
        return lambda r: r.get(field) in values
    if match := _LIKE.match(term):
        field, pattern = match.group(1), _python_regex(match.group(2))
        return lambda r: field in r and pattern.search(r[field]) is not None
    if match := _PRESENT.match(term):
        field = match.group(1)
        return lambda r: field in r
    raise QueryError(f"filter term not understood: {term!r}")


def _parse(record: Record, pattern: re.Pattern[str]) -> Record:
    match = pattern.search(record.get("@message", ""))
    if match is None:
        return record
    return {**record, **{k: v for k, v in match.groupdict().items() if v is not None}}


def run(query: str, events: Iterable[Record]) -> list[Record]:
    """The rows `query` answers over `events`, with the fields it names."""
    rows, fields, limit = list(events), None, None
    for command in query.split("\n| "):
        if command.startswith("fields "):
            fields = [f.strip() for f in command.removeprefix("fields ").split(",")]
        elif command.startswith("filter "):
            terms = [_term(t) for t in command.removeprefix("filter ").split(" or ")]
            rows = [r for r in rows if any(t(r) for t in terms)]
        elif match := _PARSE.match(command):
            pattern = _python_regex(match.group(1))
            rows = [_parse(r, pattern) for r in rows]
        elif command in ("sort @timestamp asc", "sort @timestamp desc"):
            rows.sort(key=lambda r: int(r["@timestamp"]), reverse=command.endswith("desc"))
        elif command.startswith("limit "):
            limit = int(command.removeprefix("limit "))
        else:
            raise QueryError(f"command not understood: {command!r}")
    if fields is None:
        raise QueryError("no fields command")
    return [{f: r[f] for f in fields if f in r} for r in rows[:limit]]
