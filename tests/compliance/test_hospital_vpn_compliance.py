"""`hospitalNetwork` under compliance as code: every VPN type is mapped, and checkov fails nothing
on a stack with the VPN in either topology, scale-out with TLS at the load balancer included."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orthweb.evaluate import Evaluation, evaluate
from orthweb.ops.compliance.scan import Report, scan
from orthweb.ops.compliance.types import EXCLUDED_TYPES, TERRAFORM_TYPES, is_component
from tests.compliance.expected_skips import EXPECTED_SKIPS, skipped

pytestmark = pytest.mark.compliance

HOSPITAL = {"cidrs": ["10.20.0.0/16"], "vpnDeviceAddress": "81.2.69.160"}
# Failover, and scale-out with TLS at the load balancer (hostedZoneId): its internal load balancer
# still passes plain DICOM through as TCP (scale-out with TLS at Envoy: tests/compliance/test_scan_scale_out.py
# covers the public load balancer's skips, the internal one's are the same).
VARIANTS = {
    "failover": ("dev", {"topology": "failover"}),
    "scale-out": (
        "prod",
        {"topology": "scale-out", "siteDomain": "pacs.example.org", "hostedZoneId": "Z0123456789ABCDEFGHIJ"},
    ),
}
TOPOLOGIES = tuple(VARIANTS)
# Each variant's entry in tests/compliance/expected_skips.py.
EXPECTED = {
    "failover": "dev, hospital network",
    "scale-out": "scale-out prod, TLS at the load balancer, hospital network",
}


@pytest.fixture(scope="module")
def hospital_stacks(empty_home: Path) -> dict[str, Evaluation]:
    return {
        name: evaluate(stack, {**overrides, "hospitalNetwork": HOSPITAL}, home=empty_home)
        for name, (stack, overrides) in VARIANTS.items()
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
    assert skipped(report) == EXPECTED_SKIPS[EXPECTED[topology]]


def test_the_internal_load_balancer_s_access_log_skip_holds_with_tls_at_the_load_balancer(
    hospital_stacks: dict[str, Evaluation], hospital_reports: dict[str, Report]
) -> None:
    assert hospital_stacks["scale-out"].config.tls_ends_at == "load-balancer"
    skipped = {(s.result.id, s.result.resource) for s in hospital_reports["scale-out"].skipped}
    assert ("CKV_AWS_91", "aws_lb.orthweb_private_dicom_nlb") in skipped
    # The public load balancer ends TLS there and writes its access logs: no skip for it.
    assert ("CKV_AWS_91", "aws_lb.orthweb_load_balancer_nlb") not in skipped
