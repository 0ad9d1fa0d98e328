"""Names for Elastic Load Balancing resources, which AWS limits more than most (pure, no Pulumi).

A load balancer or target group name has at most 32 characters, only letters, digits and hyphens,
and no hyphen at either end. Stack names may be longer or contain `_` and `.`: such names are
shortened and given a digest of the full name, so two stacks never share one.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from orthweb.shared.constants import aws_name

ELB_NAME_MAX_LENGTH: Final = 32
_DIGEST_LENGTH: Final = 6
_NOT_ALLOWED: Final = re.compile(r"[^A-Za-z0-9-]+")
ELB_NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


def elb_name(stack: str, *parts: str) -> str:
    """`orthweb-<stack>-<parts>` when AWS accepts it, else a shortened form ending in a digest."""
    wanted = aws_name(stack, *parts)
    cleaned = re.sub("-{2,}", "-", _NOT_ALLOWED.sub("-", wanted)).strip("-")
    if cleaned == wanted and len(cleaned) <= ELB_NAME_MAX_LENGTH:
        return cleaned
    digest = hashlib.sha256(wanted.encode()).hexdigest()[:_DIGEST_LENGTH]
    head = cleaned[: ELB_NAME_MAX_LENGTH - _DIGEST_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"
