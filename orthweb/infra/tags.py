"""The tags and descriptions every resource carries (tag keys and names in orthweb.shared.constants)."""

from __future__ import annotations

from orthweb.shared.constants import PROJECT, PROJECT_TAG, ROLE_TAG, STACK_TAG, aws_name

# The tag the AWS console shows as a resource's name.
NAME_TAG = "Name"


def stack_tags(stack: str, **extra: str) -> dict[str, str]:
    tags = {PROJECT_TAG: PROJECT, STACK_TAG: stack}
    tags.update(extra)
    return tags


def with_name(stack: str, *name_parts: str) -> dict[str, str]:
    """The stack's tags and a console name: `orthweb-<stack>-<part>-...`."""
    return stack_tags(stack, **{NAME_TAG: aws_name(stack, *name_parts)})


def with_role(stack: str, role: str, name: str | None = None) -> dict[str, str]:
    tags = stack_tags(stack, **{ROLE_TAG: role})
    if name:
        tags[NAME_TAG] = name
    return tags


def describe(stack: str, what: str) -> str:
    """A resource description: which project and stack it belongs to, then what it is for."""
    return f"{PROJECT} {stack}: {what}"
