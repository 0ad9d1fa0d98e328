"""`plan --set` and `--set-file`: one stack's config changed for one evaluation, as the CLI would.

`pulumi config set --path deploymentOptions.orthancReplicas 5` changes one field of an object and
keeps the others; `--set deploymentOptions.orthancReplicas=5` does the same here, and so does
`--set deploymentOptions='{"orthancReplicas": 5}'`: an object merges into the stack's object
instead of replacing it (which would silently reset every other option to its default).

Paths are read as the CLI reads `--path` keys (pulumi/pulumi sdk/go/common/resource/properties_path.go,
ParsePropertyPathStrict: `a.b`, `a[0]`, `a["b.c"]`) and set as it sets them
(sdk/go/common/resource/config/object.go, Set: an index may replace an item or append one, at the
list's length, and no further). A value that starts like JSON must be JSON.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orthweb.config.problems import SET_SOURCE, ConfigError, Problem, qualified_key
from orthweb.shared.constants import PROJECT

PathPart = str | int


@dataclass(frozen=True)
class BrokenJson:
    """A `--set` value that starts like JSON (`{` or `[`) but does not parse: reported, never used."""

    text: str
    reason: str


@dataclass
class Applied:
    """The stack's config after the overrides, where each came from, and what was wrong with them."""

    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


class PathError(ValueError):
    """A key path the CLI would not parse or could not set; the message says why, and
    `example_key` is the path that would work, when there is one."""

    def __init__(self, message: str, example_key: str | None = None) -> None:
        super().__init__(message)
        self.example_key = example_key


def parse_assignment(pair: str, option: str = "--set") -> tuple[str, str]:
    key, separator, text = pair.partition("=")
    if not separator or not key:
        raise ConfigError.of(option, pair, "KEY=VALUE, e.g. deploymentOptions.orthancReplicas=5")
    return key, text


def value_of(text: str) -> Any:
    """JSON objects, lists, numbers and booleans as such; anything else as the text itself.
    Text that opens like a JSON object or list must be one (a BrokenJson says where it breaks)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if text.lstrip().startswith(("{", "[")):
            return BrokenJson(text, f"column {error.colno}: {error.msg}")
        return text


def apply_overrides(values: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The stack's flat config with each override applied, or ConfigError naming every bad one."""
    applied = apply_each(values, overrides)
    if applied.problems:
        raise ConfigError(*applied.problems)
    return applied.values


def apply_each(values: Mapping[str, Any], overrides: Mapping[str, Any]) -> Applied:
    """Each override applied (path keys and objects merged); a bad one is a Problem, not applied."""
    applied = Applied(copy.deepcopy(dict(values)))
    for key, value in overrides.items():
        source = f"{SET_SOURCE}{key}"
        try:
            full_key, path = split_key(key)
            for depth in range(1, len(path) + 1):
                applied.sources[shown_path(full_key, path[:depth])] = source
            _apply(applied.values, full_key, path, value)
        except PathError as error:
            given = value.text if isinstance(value, BrokenJson) else value
            example = given if error.example_key else None
            applied.problems.append(Problem(key, given, str(error), example, source, error.example_key))
        except ConfigError as error:
            applied.problems.extend(p.from_source(source) for p in error.problems)
    return applied


def split_key(key: str) -> tuple[str, list[PathPart]]:
    """`ns:a.b[0]` -> ("ns:a", ["a", "b", 0]): the config key and the path into it (first part its name)."""
    namespace, _, rest = qualified_key(key).partition(":")
    path = parse_path(rest)
    if not path or not isinstance(path[0], str) or not path[0]:
        raise PathError("a key name first (`name`, `name.field` or `name[0]`)")
    return f"{namespace}:{path[0]}", path


def shown_path(full_key: str, path: list[PathPart]) -> str:
    """The path as problems name it: `deploymentOptions.orthancReplicas`, `ssoAdminEmails[0]`, `aws:region`."""
    namespace, _, _ = full_key.partition(":")
    text = "" if namespace == PROJECT else f"{namespace}:"
    for index, part in enumerate(path):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if index else part)
    return text


def parse_path(text: str) -> list[PathPart]:
    """A property path as the CLI's strict parser reads it (names, `[index]`, `["quoted name"]`)."""
    parts: list[PathPart] = []
    if text.startswith("."):
        raise PathError("a name or index first, not '.'")
    while text:
        if text[0] == ".":
            text = text[1:]
            if not text or text[0] == "[":
                raise PathError("a name after each '.'")
        elif text[0] == "[":
            part, text = _bracket(text)
            parts.append(part)
        else:
            end = min((i for i in (text.find("."), text.find("[")) if i >= 0), default=len(text))
            parts.append(text[:end])
            text = text[end:]
    return parts


def _bracket(text: str) -> tuple[PathPart, str]:
    if text[1:2] == '"':
        name, i = "", 2
        while True:
            if i >= len(text):
                raise PathError('a closing quote in ["name"]')
            if text[i] == '"':
                break
            if text[i] == "\\" and text[i + 1 : i + 2] == '"':
                name, i = name + '"', i + 2
                continue
            name, i = name + text[i], i + 1
        if text[i + 1 : i + 2] != "]":
            raise PathError('a closing bracket in ["name"]')
        return name, text[i + 2 :]
    end = text.find("]")
    if end < 0:
        raise PathError("a closing bracket in [index]")
    segment = text[1:end]
    if not segment.lstrip("-").isdigit():
        raise PathError(f"a whole number in [index] (not {segment!r})")
    return int(segment), text[end + 1 :]


def _apply(values: dict[str, Any], full_key: str, path: list[PathPart], value: Any) -> None:
    shown = shown_path(full_key, path)
    if isinstance(value, BrokenJson):
        raise ConfigError(Problem(shown, value.text, f"valid JSON ({value.reason}); strings inside need double quotes"))
    if value is None:
        raise ConfigError.of(
            shown, None, "a value: `null` sets nothing (leave out this --set to keep the stack's value or the default)"
        )
    if len(path) == 1:
        current = _parsed(values.get(full_key))
        change = _parsed(value)
        values[full_key] = (
            _deep_merge(current, change) if isinstance(current, dict) and isinstance(change, dict) else value
        )
        return
    root = _parsed(values.get(full_key))
    if root is None:
        root = [] if isinstance(path[1], int) else {}
    elif not isinstance(root, dict | list):
        wanted = (
            "a list, to set one of its items with [index]"
            if isinstance(path[1], int)
            else ("an object, to set one of its fields with a dotted path")
        )
        raise ConfigError.of(shown_path(full_key, path[:1]), root, wanted)
    values[full_key] = _set(root, path[:1], path[1:], value, full_key)


def _set(node: Any, prefix: list[PathPart], path: list[PathPart], value: Any, full_key: str) -> Any:
    if not path:
        return value
    head, where = path[0], shown_path(full_key, [*prefix, path[0]])
    if node is None:
        node = [] if isinstance(head, int) else {}
    if isinstance(node, list):
        if not isinstance(head, int):
            raise PathError(f"an index such as [0]: {shown_path(full_key, prefix)} is a list")
        if not 0 <= head <= len(node):
            items = f"{len(node)} item{'' if len(node) == 1 else 's'}" if node else "no items"
            raise PathError(
                f"an index from 0 to {len(node)}: {shown_path(full_key, prefix)} has {items}, and as with "
                f"`pulumi config set --path` an index replaces an item or, at [{len(node)}], adds one",
                shown_path(full_key, [*prefix, len(node)]),
            )
        if head == len(node):
            node.append(None)
        node[head] = _set(node[head], [*prefix, head], path[1:], value, full_key)
        return node
    if isinstance(node, dict):
        if not isinstance(head, str):
            raise PathError(f"a field name: {shown_path(full_key, prefix)} is an object")
        node[head] = _set(node.get(head), [*prefix, head], path[1:], value, full_key)
        return node
    raise PathError(f"{shown_path(full_key, prefix)} to be an object or a list to set {where} in it")


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        parsed = value_of(value)
        return value if isinstance(parsed, BrokenJson) else parsed
    return value


def _deep_merge(base: dict[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    for name, value in change.items():
        if isinstance(value, dict) and isinstance(base.get(name), dict):
            base[name] = _deep_merge(base[name], value)
        else:
            base[name] = value
    return base
