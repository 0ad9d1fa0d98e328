"""Subnet plan for the VPC: one public and one private subnet in each of two AZs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# Four equal subnets need two more prefix bits; four more leave room to add subnets later
# without renumbering (a /16 gives /20s of 4,091 usable addresses each).
_EXTRA_BITS = 4
_SMALLEST_SUBNET = 28  # AWS refuses subnets smaller than /28


@dataclass(frozen=True)
class SubnetPlan:
    public: tuple[str, str]
    private: tuple[str, str]


def plan_subnets(vpc_cidr: str) -> SubnetPlan:
    network = ipaddress.IPv4Network(vpc_cidr, strict=True)
    prefix = min(network.prefixlen + _EXTRA_BITS, _SMALLEST_SUBNET)
    if prefix - network.prefixlen < 2:
        raise ValueError(f"{vpc_cidr} is too small for four /{_SMALLEST_SUBNET} subnets")
    blocks = [str(block) for _, block in zip(range(4), network.subnets(new_prefix=prefix), strict=False)]
    return SubnetPlan(public=(blocks[0], blocks[1]), private=(blocks[2], blocks[3]))
