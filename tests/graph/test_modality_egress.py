"""C-MOVE: Orthanc opens its own association to the destination modality, through the hosts'
firewall. Egress goes to the configured modalities' addresses and ports, and nowhere else new."""

from __future__ import annotations

from pathlib import Path

import pytest

from orthweb.evaluate import Evaluation, evaluate

EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
MODALITIES = ["CT_1@10.20.0.15:104", "WS_2@192.0.2.7:11112", "MR_3@10.20.0.16:104"]
GROUPS = {"failover": "orthweb-hosts-sg", "scale-out": "orthweb-group-sg"}


def egress(stack: Evaluation, group_name: str) -> list[tuple[int, int, str, str]]:
    group = stack.named(group_name)
    return sorted(
        (r.inputs["fromPort"], r.inputs["toPort"], r.inputs["ipProtocol"], r.inputs.get("cidrIpv4", ""))
        for r in stack.of_type(EGRESS)
        if r.inputs["securityGroupId"] == group.id
    )


@pytest.mark.parametrize("topology", sorted(GROUPS))
def test_hosts_reach_exactly_the_configured_modalities(topology: str, empty_home: Path) -> None:
    base = evaluate("dev", {"topology": topology}, home=empty_home)
    configured = evaluate("dev", {"topology": topology, "dicomModalities": MODALITIES}, home=empty_home)
    before, after = egress(base, GROUPS[topology]), egress(configured, GROUPS[topology])
    added = sorted(set(after) - set(before))
    assert set(before) <= set(after)
    assert added == [
        (104, 104, "tcp", "10.20.0.15/32"),
        (104, 104, "tcp", "10.20.0.16/32"),
        (11112, 11112, "tcp", "192.0.2.7/32"),
    ]
