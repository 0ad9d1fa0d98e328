"""The group's service-linked role name is one IAM accepts, whatever the stack is called.

IAM CreateServiceLinkedRole: the custom suffix is appended to AWSServiceRoleForAutoScaling_, the
role name holds at most 64 characters of [\\w+=,.@-] (IAM API Reference, CreateRole RoleName)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from orthweb.infra.autoscaling_role import role_suffix

ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


def test_a_short_stack_keeps_its_name() -> None:
    assert role_suffix("prod") == "orthweb-prod"


@given(st.text(alphabet=st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=1, max_size=80))
def test_every_stack_name_gives_a_role_name_iam_accepts(stack: str) -> None:
    name = f"AWSServiceRoleForAutoScaling_{role_suffix(stack)}"
    assert ROLE_NAME.fullmatch(name), name


def test_long_stack_names_stay_apart() -> None:
    first, second = role_suffix("a" * 40 + "-one"), role_suffix("a" * 40 + "-two")
    assert first != second and len(first) == len(second) == 35
