"""checkov on the scale-out topology (dev and prod): nothing fails, every skip is used, and the checks
that follow references see the load balancer, its listeners and the group."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orthweb.evaluate import evaluate
from orthweb.ops.compliance.scan import Report, scan
from tests.compliance.expected_skips import EXPECTED_SKIPS, skipped

pytestmark = pytest.mark.compliance


# TLS at the load balancer: an ACM certificate for the site domain in a Route53 zone.
PUBLIC_TLS = {"topology": "scale-out", "siteDomain": "pacs.example.org", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}


@pytest.fixture(scope="module")
def scaled_reports(checkov: Path, empty_home: Path) -> dict[str, Report]:
    stacks = {name: evaluate(name, {"topology": "scale-out"}, home=empty_home) for name in ("dev", "prod")}
    stacks["tls"] = evaluate("prod", PUBLIC_TLS, home=empty_home)
    with ThreadPoolExecutor(max_workers=len(stacks)) as pool:
        futures = {name: pool.submit(scan, evaluation, checkov=checkov) for name, evaluation in stacks.items()}
        return {name: future.result() for name, future in futures.items()}


SCANNED = {"dev": "scale-out dev", "prod": "scale-out prod", "tls": "scale-out prod, TLS at the load balancer"}


@pytest.mark.parametrize("environment", ["dev", "prod", "tls"])
def test_nothing_fails_and_every_skip_is_used(scaled_reports: dict[str, Report], environment: str) -> None:
    report = scaled_reports[environment]
    assert [f"{r.id} {r.resource}" for r in report.failed] == []
    assert report.unused_skips == []
    assert skipped(report) == EXPECTED_SKIPS[SCANNED[environment]]
    assert not any(r.resource.startswith("aws_instance.") for r in report.passed), "no failover hosts"


def test_the_load_balancer_and_the_group_pass_their_checks(scaled_reports: dict[str, Report]) -> None:
    passed = {(r.id, r.resource) for r in scaled_reports["prod"].passed}
    nlb, template = "aws_lb.orthweb_load_balancer_nlb", "aws_launch_template.orthweb_group_launch_template"
    for expected in [
        ("CKV_AWS_79", template),  # IMDSv2 required
    ]:
        assert expected in passed, expected
    assert ("CKV_AWS_91", nlb) in {(r.id, r.resource) for r in scaled_reports["tls"].passed}, "TLS listeners log"
    for environment in ("dev", "prod"):
        skips = skipped(scaled_reports[environment])
        assert ("CKV_AWS_150", nlb) in skips, "a protected load balancer would stop `pulumi destroy`"
        assert ("CKV_AWS_91", nlb) in skips, "TCP listeners: AWS writes no access logs"
