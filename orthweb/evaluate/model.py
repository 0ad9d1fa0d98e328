"""What an offline evaluation records: the resources, the stack exports, and secret-marked values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orthweb.config.stack_config import StackConfig

SECRET_PLACEHOLDER = "[secret]"


@dataclass(frozen=True)
class Secret:
    """A value the program marked secret; `plan --json` shows it as "[secret]"."""

    value: Any

    def __repr__(self) -> str:
        return "Secret([hidden])"


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    custom: bool
    id: str
    state: dict[str, Any] = field(repr=False)
    # The resource options that decide what `up` and `destroy` do to the real thing.
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    ignore_changes: tuple[str, ...] = ()
    # The id of an existing resource `up` adopts instead of creating ("": none).
    import_id: str = ""


@dataclass
class Evaluation:
    stack: str
    config: StackConfig
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    # What the program logged as warnings (`pulumi.log.warn`), which `pulumi up` would print.
    logged_warnings: tuple[str, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every warning of the run, each once: the config's, then what the program logged besides."""
        return tuple(dict.fromkeys((*self.config.warnings, *self.logged_warnings)))

    def of_type(self, token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str) -> RecordedResource:
        found = self.of_type(token)
        if len(found) != 1:
            raise LookupError(f"expected one {token}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> RecordedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise LookupError(urn)

    def named(self, name: str) -> RecordedResource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise LookupError(name)

    def ancestors(self, urn: str) -> set[str]:
        """Every resource `urn` waits for, directly or through its dependencies' dependencies."""
        seen: set[str] = set()
        todo = [urn]
        index = {r.urn: r for r in self.resources}
        while todo:
            current = index.get(todo.pop())
            if current is None:
                continue
            for dependency in current.dependencies:
                if dependency not in seen:
                    seen.add(dependency)
                    todo.append(dependency)
        return seen

    def to_json(self) -> dict[str, Any]:
        """The evaluation as JSON, in an order that depends only on the input: resources by URN
        (the engine registers them in whatever order their inputs resolve)."""
        return {
            "stack": self.stack,
            "resources": [
                {
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "inputs": redact(r.inputs),
                }
                for r in sorted(self.resources, key=lambda resource: resource.urn)
            ],
            "outputs": redact(self.outputs),
            "warnings": list(self.warnings),
        }


def plain(value: Any) -> Any:
    """The value with every Secret unwrapped (for assertions on what AWS would receive)."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """The value with every Secret replaced by "[secret]" (what `plan` may print)."""
    if isinstance(value, Secret):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def secrets_in(value: Any) -> list[Any]:
    """Every secret value nested inside `value`."""
    if isinstance(value, Secret):
        return [value.value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in secrets_in(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in secrets_in(v)]
    return []
