"""checkov on the real dev and prod stacks: nothing fails, and the conversion hides nothing."""

from __future__ import annotations

import pytest

from orthweb.ops.compliance.scan import Report
from tests.compliance.expected_skips import EXPECTED_SKIPS, skipped

pytestmark = pytest.mark.compliance

# Checks that hold only when the plan connects resources through references: a bucket to its
# public-access block, lifecycle and notifications, a VPC to its flow log and default SG, an
# instance to its profile, an EIP to its instance, RDS to its parameter group.
GRAPH_CHECKS = {
    "CKV2_AWS_6": ["aws_s3_bucket.orthweb_storage_dicom", "aws_s3_bucket.orthweb_storage_logs"],
    "CKV2_AWS_61": ["aws_s3_bucket.orthweb_storage_dicom", "aws_s3_bucket.orthweb_storage_logs"],
    "CKV2_AWS_62": ["aws_s3_bucket.orthweb_storage_dicom", "aws_s3_bucket.orthweb_storage_logs"],
    "CKV_AWS_18": ["aws_s3_bucket.orthweb_storage_dicom"],
    "CKV_AWS_145": ["aws_s3_bucket.orthweb_storage_dicom"],
    "CKV2_AWS_11": ["aws_vpc.orthweb_network_vpc"],
    "CKV2_AWS_12": ["aws_vpc.orthweb_network_vpc"],
    "CKV2_AWS_41": ["aws_instance.orthweb_hosts_primary", "aws_instance.orthweb_hosts_secondary"],
    "CKV2_AWS_19": ["aws_eip.orthweb_hosts_site_ip"],
    "CKV2_AWS_69": ["aws_db_instance.orthweb_database_postgres"],
    "CKV2_AWS_5": ["aws_security_group.orthweb_database_sg", "aws_security_group.orthweb_hosts_sg"],
}


def test_nothing_fails(report: Report) -> None:
    failures = [f"{r.id} {r.resource}: {r.name}" for r in report.failed]
    assert failures == []


def test_every_skip_excuses_a_real_failure(report: Report) -> None:
    assert report.unused_skips == []
    assert all(s.reason and s.reason != "skipped by checkov" for s in report.skipped)


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_exactly_the_reviewed_results_are_skipped(reports: dict[str, Report], environment: str) -> None:
    assert skipped(reports[environment]) == EXPECTED_SKIPS[environment]
    assert len(reports[environment].passed) >= 129


def test_graph_checks_see_the_connections(report: Report) -> None:
    passed = {(r.id, r.resource) for r in report.passed}
    missing = [(check, resource) for check, resources in GRAPH_CHECKS.items() for resource in resources]
    assert [pair for pair in missing if pair not in passed] == []


def test_production_needs_no_dev_exceptions(reports: dict[str, Report]) -> None:
    prod_skips, dev_skips = skipped(reports["prod"]), skipped(reports["dev"])
    assert prod_skips < dev_skips
    assert {check for check, _ in dev_skips - prod_skips} == {"CKV_AWS_157", "CKV_AWS_293"}
    prod_passed = {(r.id, r.resource) for r in reports["prod"].passed}
    assert ("CKV_AWS_157", "aws_db_instance.orthweb_database_postgres") in prod_passed
    assert ("CKV_AWS_293", "aws_db_instance.orthweb_database_postgres") in prod_passed


def test_every_result_names_a_resource_of_the_program(report: Report) -> None:
    for result in [*report.passed, *report.failed, *(s.result for s in report.skipped)]:
        assert result.pulumi_name or result.resource == "aws.default", result


# What the insecure variant (conftest.insecure_variant) breaks, and the check that must say so.
EXPECTED_FAILURES = {
    ("CKV_AWS_16", "aws_db_instance.orthweb_database_postgres"),  # storage not encrypted
    ("CKV_AWS_17", "aws_db_instance.orthweb_database_postgres"),  # publicly accessible
    ("CKV_AWS_24", "aws_vpc_security_group_ingress_rule.orthweb_hosts_sg_in_https_0_0_0_0_0"),  # port 22 open
    ("CKV_AWS_79", "aws_instance.orthweb_hosts_primary"),  # IMDSv1 allowed
    ("CKV_AWS_79", "aws_instance.orthweb_hosts_secondary"),
    ("CKV_AWS_145", "aws_s3_bucket.orthweb_storage_dicom"),  # no SSE-KMS configuration
    ("CKV2_AWS_11", "aws_vpc.orthweb_network_vpc"),  # no flow log
}


def test_insecure_variant_fails_exactly_where_it_was_weakened(reports: dict[str, Report]) -> None:
    insecure = reports["insecure"]
    assert {(r.id, r.resource) for r in insecure.failed} == EXPECTED_FAILURES
