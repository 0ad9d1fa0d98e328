"""Load balancer and target group names always fit AWS's rules, and stay distinct per stack."""

from __future__ import annotations

import pytest

from orthweb.infra.lb_names import ELB_NAME_MAX_LENGTH, ELB_NAME_PATTERN, elb_name


def test_a_short_stack_keeps_its_readable_name() -> None:
    assert elb_name("dev") == "orthweb-dev"
    assert elb_name("prod", "tls", "11112") == "orthweb-prod-tls-11112"


@pytest.mark.parametrize(
    "stack",
    ["a-very-long-stack-name-for-the-radiology-department", "team_a.prod", "x--y", "_leading", "Trailing-"],
)
def test_any_stack_name_gives_a_valid_name(stack: str) -> None:
    for parts in ((), ("tcp", "443"), ("tls", "11112")):
        name = elb_name(stack, *parts)
        assert len(name) <= ELB_NAME_MAX_LENGTH and ELB_NAME_PATTERN.fullmatch(name), name
        assert "--" not in name


def test_shortened_names_of_different_stacks_or_ports_differ() -> None:
    long = "a-very-long-stack-name-for-the-radiology-department"
    names = {elb_name(long, "tcp", "443"), elb_name(long, "tcp", "11112"), elb_name(long + "-2", "tcp", "443")}
    assert len(names) == 3
    assert elb_name("team_a.prod") != elb_name("team-a-prod")
