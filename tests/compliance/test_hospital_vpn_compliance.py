"""`hospitalNetwork` under compliance as code: every VPN type is mapped, and checkov fails nothing
on a stack with the VPN in either topology."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orthweb.evaluate import Evaluation, evaluate
from orthweb.ops.compliance.scan import Report, scan
from orthweb.ops.compliance.types import EXCLUDED_TYPES, TERRAFORM_TYPES, is_component

pytestmark = pytest.mark.compliance

HOSPITAL = {"cidrs": ["10.20.0.0/16"], "vpnDeviceAddress": "81.2.69.160"}
TOPOLOGIES = ("failover", "scale-out")


@pytest.fixture(scope="module")
def hospital_stacks(empty_home: Path) -> dict[str, Evaluation]:
    return {
        topology: evaluate("dev", {"topology": topology, "hospitalNetwork": HOSPITAL}, home=empty_home)
        for topology in TOPOLOGIES
    }


@pytest.fixture(scope="module")
def hospital_reports(checkov: Path, hospital_stacks: dict[str, Evaluation]) -> dict[str, Report]:
    with ThreadPoolExecutor(max_workers=len(hospital_stacks)) as pool:
        futures = {name: pool.submit(scan, stack, checkov=checkov) for name, stack in hospital_stacks.items()}
        return {name: future.result() for name, future in futures.items()}


def test_every_vpn_type_is_mapped(hospital_stacks: dict[str, Evaluation]) -> None:
    used = {r.type for stack in hospital_stacks.values() for r in stack.resources if not is_component(r.type)}
    assert {"aws:ec2/vpnConnection:VpnConnection", "aws:ec2/route:Route"} <= used
    assert sorted(used - TERRAFORM_TYPES.keys() - EXCLUDED_TYPES.keys()) == []


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_a_stack_with_the_hospital_vpn_fails_nothing(topology: str, hospital_reports: dict[str, Report]) -> None:
    report = hospital_reports[topology]
    assert [f"{r.id} {r.resource}" for r in report.failed] == []
    assert report.unused_skips == []
