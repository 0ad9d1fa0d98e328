"""The tags every taggable resource carries (keys in orthweb.constants)."""

from __future__ import annotations

from orthweb.constants import PROJECT, PROJECT_TAG, ROLE_TAG, STACK_TAG


def stack_tags(stack: str, **extra: str) -> dict[str, str]:
    tags = {PROJECT_TAG: PROJECT, STACK_TAG: stack}
    tags.update(extra)
    return tags


def with_role(stack: str, role: str, name: str | None = None) -> dict[str, str]:
    tags = stack_tags(stack, **{ROLE_TAG: role})
    if name:
        tags["Name"] = name
    return tags
