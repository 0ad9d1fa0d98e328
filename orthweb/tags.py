"""Tags every taggable resource carries; failover and verify find resources by them."""

from __future__ import annotations

PROJECT_TAG = "orthweb:project"
STACK_TAG = "orthweb:stack"
ROLE_TAG = "orthweb:role"


def stack_tags(stack: str, **extra: str) -> dict[str, str]:
    tags = {PROJECT_TAG: "orthweb", STACK_TAG: stack}
    tags.update(extra)
    return tags


def with_role(stack: str, role: str, name: str | None = None) -> dict[str, str]:
    tags = stack_tags(stack, **{ROLE_TAG: role})
    if name:
        tags["Name"] = name
    return tags
