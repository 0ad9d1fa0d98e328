"""What `pulumi up` would do going from one evaluation of the program to another: the resources it
adds, replaces, updates in place and deletes, and the inputs that make each change.

Replacements follow the replacement model (`replacement.py`: force-new inputs, and replacements
reaching dependents); an update is any other change of a resource's inputs. Input names only:
values never leave this module, since some are secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from orthweb.evaluate.model import Evaluation, RecordedResource, plain
from orthweb.evaluate.replacement import forced_by, replaced_urns, same_resource

ADD, REPLACE, UPDATE, DELETE = "add", "replace", "update", "delete"
ACTIONS = (ADD, REPLACE, UPDATE, DELETE)


@dataclass(frozen=True)
class Change:
    action: str
    type: str
    name: str
    # The inputs that changed (for a replacement: the force-new ones, or the replaced resource it needs).
    because: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"action": self.action, "type": self.type, "name": self.name, "because": list(self.because)}


def changes(before: Evaluation, after: Evaluation) -> list[Change]:
    """Every change going from `before` to `after`, by action, then type and name."""
    previous = {same_resource(r.urn): r for r in before.resources if r.custom}
    current = {same_resource(r.urn): r for r in after.resources if r.custom}
    replaced = replaced_urns(before, after)
    found = [Change(DELETE, r.type, r.name) for key, r in previous.items() if key not in current]
    for key, new in current.items():
        old = previous.get(key)
        if old is None:
            found.append(Change(ADD, new.type, new.name))
        elif new.urn in replaced:
            found.append(Change(REPLACE, new.type, new.name, _replacement_reasons(old, new, after, replaced)))
        elif changed := _changed_inputs(old, new):
            found.append(Change(UPDATE, new.type, new.name, changed))
    return sorted(found, key=lambda change: (ACTIONS.index(change.action), change.type, change.name))


def _changed_inputs(old: RecordedResource, new: RecordedResource) -> tuple[str, ...]:
    old_inputs, new_inputs = plain(old.inputs), plain(new.inputs)
    names = sorted(set(old_inputs) | set(new_inputs))
    return tuple(name for name in names if old_inputs.get(name) != new_inputs.get(name))


def _replacement_reasons(
    old: RecordedResource, new: RecordedResource, after: Evaluation, replaced: set[str]
) -> tuple[str, ...]:
    forced = forced_by(old, new)
    if forced:
        return tuple(forced)
    needed = {urn for urns in new.property_dependencies.values() for urn in urns} & replaced
    return tuple(f"needs replaced {after.by_urn(urn).name}" for urn in sorted(needed))


def counts(found: list[Change]) -> dict[str, int]:
    return {action: sum(change.action == action for change in found) for action in ACTIONS}
