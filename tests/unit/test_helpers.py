"""Pure helpers: subnet plan, instance-type knowledge, policy documents."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from orthweb.infra import instance_types
from orthweb.infra.cidr import plan_subnets


@given(
    base=st.sampled_from(["10.0.0.0", "172.16.0.0", "172.27.0.0", "192.168.0.0"]),
    prefix=st.integers(min_value=16, max_value=24),
)
def test_subnets_are_disjoint_and_inside_the_vpc(base: str, prefix: int) -> None:
    vpc = ipaddress.IPv4Network(f"{base}/{prefix}", strict=False)
    plan = plan_subnets(str(vpc))
    subnets = [ipaddress.IPv4Network(c) for c in (*plan.public, *plan.private)]
    assert len(subnets) == 4
    assert all(s.subnet_of(vpc) for s in subnets)
    assert all(not a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])
    assert all(s.prefixlen <= 28 for s in subnets)


def test_instance_types_come_from_botocore_not_a_pattern() -> None:
    known = instance_types.known_instance_types()
    assert len(known) > 1000
    assert instance_types.is_known("t4g.medium") and instance_types.is_known("m7i-flex.large")
    assert not instance_types.is_known("t3.humongous")


def test_graviton_types_are_arm64() -> None:
    for name in ("t4g.medium", "m7gd.large", "x2gd.large", "c7gn.large", "a1.large", "g5g.xlarge"):
        assert instance_types.architecture(name) == "arm64", name
    for name in ("t3.medium", "m7i-flex.large", "g4dn.xlarge", "c5n.large"):
        assert instance_types.architecture(name) == "x86_64", name
