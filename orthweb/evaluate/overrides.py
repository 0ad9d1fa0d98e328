"""`plan --set` and `--set-file`: one stack's config changed for one evaluation, as the CLI would.

`pulumi config set --path deploymentOptions.orthancReplicas 5` changes one field of an object and
keeps the others; `--set deploymentOptions.orthancReplicas=5` does the same here, and so does
`--set deploymentOptions='{"orthancReplicas": 5}'`: an object merges into the stack's object
instead of replacing it (which would silently reset every other option to its default).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from orthweb.problems import ConfigError, qualified_key


def parse_assignment(pair: str, option: str = "--set") -> tuple[str, str]:
    key, separator, text = pair.partition("=")
    if not separator or not key:
        raise ConfigError.of(option, pair, "KEY=VALUE, e.g. deploymentOptions.orthancReplicas=5")
    return key, text


def value_of(text: str) -> Any:
    """JSON objects, lists, numbers and booleans as such; anything else as the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(values: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The stack's flat config with each override applied (path keys and objects merged)."""
    merged = copy.deepcopy(dict(values))
    for key, value in overrides.items():
        namespace, _, rest = qualified_key(key).partition(":")
        top, *path = rest.split(".")
        full_key = f"{namespace}:{top}"
        if path:
            merged[full_key] = _set_path(_as_object(full_key, merged.get(full_key)), path, value)
        elif isinstance(change := _parsed(value), dict) and isinstance(current := _parsed(merged.get(full_key)), dict):
            merged[full_key] = _deep_merge(current, change)
        else:
            merged[full_key] = value
    return merged


def _parsed(value: Any) -> Any:
    return value_of(value) if isinstance(value, str) else value


def _as_object(key: str, value: Any) -> dict[str, Any]:
    current = _parsed(value) if value is not None else {}
    if not isinstance(current, dict):
        raise ConfigError.of(key, value, "an object, to set one of its fields with a dotted path")
    return current


def _set_path(target: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    node = target
    for name in path[:-1]:
        child = node.get(name)
        node[name] = child if isinstance(child, dict) else {}
        node = node[name]
    node[path[-1]] = value
    return target


def _deep_merge(base: dict[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    for name, value in change.items():
        if isinstance(value, dict) and isinstance(base.get(name), dict):
            base[name] = _deep_merge(base[name], value)
        else:
            base[name] = value
    return base
