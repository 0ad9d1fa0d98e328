"""What the Pulumi CLI does with `Pulumi.yaml`'s `config:` block before the program runs.

The CLI cannot run here, so its documented rules are applied by this module and tested: the project
file's declarations are checked (types string/integer/boolean/array, arrays name their `items`, a
default has the declared type), then each stack's config is merged with them the way `pulumi up`
does: a project key with no stack value takes its default, a key with neither stops the CLI ("Stack
'dev' is missing configuration value 'x'"), a typed value of the wrong type stops it, and a key
declared `secret: true` must be set with `--secret`. The result is what the program receives.
Source: pulumi/pulumi sdk/go/common/workspace (project.go, project.json, and the stack-config merge).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SIMPLE_TYPES = ("string", "integer", "boolean", "array")
DECLARATION_KEYS = frozenset({"type", "items", "description", "secret", "default"})


class ProjectConfigError(ValueError):
    """The CLI would refuse the project file or the stack; the message is the CLI's own wording.
    `failures` holds each of the stack's values the CLI refuses, all of them."""

    def __init__(self, message: str, failures: tuple[StackFailure, ...] = ()) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass(frozen=True)
class StackFailure:
    """One stack value the CLI refuses: its key (as the project declares it), the CLI's words, and
    the type it wanted ("" when the value must be encrypted instead)."""

    key: str
    message: str
    wanted: str = ""


@dataclass(frozen=True)
class StackValue:
    """One stack config value as written in Pulumi.<stack>.yaml (`secure` when encrypted)."""

    value: Any
    secure: bool = False


def declarations(project: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The project's config declarations, checked as the CLI checks the project file."""
    name = str(project.get("name", ""))
    declared: dict[str, dict[str, Any]] = {}
    for key, entry in (project.get("config") or {}).items():
        if not isinstance(entry, dict):  # shorthand `key: value` is a default for project keys
            entry = {"default": entry} if _project_key(name, key) else {"value": entry}
        declared[key] = entry
        _check_declaration(name, key, entry)
    return declared


def _check_declaration(project: str, key: str, entry: Mapping[str, Any]) -> None:
    if not _project_key(project, key):
        if "type" in entry or "default" in entry or "value" not in entry:
            raise ProjectConfigError(f"Configuration key '{key}' is not namespaced by the project: only 'value'")
        return
    unknown = set(entry) - DECLARATION_KEYS
    if unknown:
        raise ProjectConfigError(f"#/config/{key}: additional properties {sorted(unknown)} not allowed")
    kind = entry.get("type")
    if kind not in SIMPLE_TYPES:
        raise ProjectConfigError(f"#/config/{key}/type: value must be one of {', '.join(SIMPLE_TYPES)}")
    if kind == "array" and "items" not in entry:
        raise ProjectConfigError(
            f"The configuration key '{key}' declares an array but does not specify the underlying type "
            "via the 'items' attribute"
        )
    if "default" in entry and not value_has_type(entry["default"], kind, entry.get("items")):
        raise ProjectConfigError(
            f"The default value specified for configuration key '{key}' is not of the expected type "
            f"'{full_type_name(kind, entry.get('items'))}'"
        )


def _project_key(project: str, key: str) -> bool:
    return ":" not in key or key.startswith(project + ":")


def value_has_type(value: Any, kind: str, items: Mapping[str, Any] | None) -> bool:
    """The CLI's type check; integers may be whole floats or digit strings, booleans "true"/"false"."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        return isinstance(value, str) and value.lstrip("+-").isdigit()
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if kind == "array" and isinstance(value, list) and items is not None:
        return all(value_has_type(item, items["type"], items.get("items")) for item in value)
    return False


def full_type_name(kind: str, items: Mapping[str, Any] | None) -> str:
    return f"array<{full_type_name(items['type'], items.get('items'))}>" if items else kind


def merge(project: Mapping[str, Any], stack_name: str, stack: Mapping[str, StackValue]) -> dict[str, StackValue]:
    """The stack's config after the CLI applied the project's declarations (or ProjectConfigError)."""
    name = str(project["name"])
    merged = dict(stack)
    missing: list[str] = []
    declared = declarations(project)
    for key in sorted(declared):
        entry, full_key = declared[key], key if ":" in key else f"{name}:{key}"
        if full_key in merged:
            continue
        if "default" in entry or "value" in entry:
            merged[full_key] = StackValue(entry.get("default", entry.get("value")))
        elif _project_key(name, key):
            missing.append(key)
    if missing:
        noun = "value" if len(missing) == 1 else "values"
        raise ProjectConfigError(f"Stack '{stack_name}' is missing configuration {noun} {_listed(missing)}")
    failures = [
        failure
        for key in sorted(declared)
        if (
            failure := _check_stack_value(
                stack_name, key, declared[key], merged[key if ":" in key else f"{name}:{key}"]
            )
        )
    ]
    if failures:
        raise ProjectConfigError("; ".join(failure.message for failure in failures), tuple(failures))
    return merged


def _check_stack_value(
    stack_name: str, key: str, entry: Mapping[str, Any], stack_value: StackValue
) -> StackFailure | None:
    if "type" not in entry:
        return None
    if entry.get("secret") and not stack_value.secure:
        return StackFailure(
            key, f"Stack '{stack_name}' with configuration key '{key}' must be encrypted as it's secret"
        )
    if not value_has_type(stack_value.value, entry["type"], entry.get("items")):
        wanted = full_type_name(entry["type"], entry.get("items"))
        return StackFailure(
            key, f"Stack '{stack_name}' with configuration key '{key}' must be of type '{wanted}'", wanted
        )
    return None


def _listed(keys: list[str]) -> str:
    quoted = [f"'{key}'" for key in sorted(keys)]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def engine_value(value: Any) -> str:
    """How the engine hands a config value to the program: text, objects and lists as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def stack_values(config: Mapping[str, Any], project: str) -> dict[str, StackValue]:
    """A stack file's `config:` as the CLI holds it: keys namespaced, scalars as their text."""
    values: dict[str, StackValue] = {}
    for key, raw in config.items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(raw, dict) and set(raw) == {"secure"}:
            values[full_key] = StackValue(raw["secure"], secure=True)
        elif isinstance(raw, dict | list):
            values[full_key] = StackValue(raw)
        else:
            values[full_key] = StackValue(engine_value(raw))
    return values
