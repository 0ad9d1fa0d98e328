"""Exactly which checkov results each scanned stack skips, as (check, Terraform address): a new skip
in orthweb/ops/compliance/skips.yaml, or one that starts matching another resource, fails these
tests until it is written here too — a deliberate, reviewed edit."""

from __future__ import annotations

from orthweb.ops.compliance.scan import Report

Skips = frozenset[tuple[str, str]]


def _pairs(check: str, *resources: str) -> Skips:
    return frozenset((check, resource) for resource in resources)


HOSTS = ("aws_instance.orthweb_hosts_primary", "aws_instance.orthweb_hosts_secondary")
TEMPLATE = "aws_launch_template.orthweb_group_launch_template"
NLB = "aws_lb.orthweb_load_balancer_nlb"
DATABASE = "aws_db_instance.orthweb_database_postgres"
AUDIT_BUCKET = "aws_s3_bucket.orthweb_audit_audit"
TRAIL = "aws_cloudtrail.orthweb_audit_trail"
AUDIT_COPY = "aws_lambda_function.orthweb_audit_lines_function"

# Every stack: secrets read at boot, buckets not replicated, the SSE-S3 log bucket, the audit trail and copy.
EVERY_STACK: Skips = (
    _pairs(
        "CKV2_AWS_57",
        "aws_secretsmanager_secret.orthweb_secrets_orthanc_credentials",
        "aws_secretsmanager_secret.orthweb_secrets_site_tls",
    )
    | _pairs(
        "CKV_AWS_144",
        "aws_s3_bucket.orthweb_storage_dicom",
        "aws_s3_bucket.orthweb_storage_logs",
        "aws_s3_bucket.orthweb_storage_host_bundles",
        AUDIT_BUCKET,
    )
    | _pairs("CKV_AWS_145", "aws_s3_bucket.orthweb_storage_logs")
    | _pairs("CKV_AWS_18", AUDIT_BUCKET)
    | _pairs("CKV2_AWS_10", TRAIL)
    | _pairs("CKV_AWS_252", TRAIL)
    # The audit copy: no reserved concurrency, outside the VPC, unsigned code, no X-Ray.
    | _pairs("CKV_AWS_115", AUDIT_COPY)
    | _pairs("CKV_AWS_117", AUDIT_COPY)
    | _pairs("CKV_AWS_272", AUDIT_COPY)
    | _pairs("CKV_AWS_50", AUDIT_COPY)
)
# The failover topology's two hosts: public addresses, EBS optimization left to the type.
FAILOVER_HOSTS: Skips = _pairs("CKV_AWS_88", *HOSTS) | _pairs("CKV_AWS_135", *HOSTS)
# The scale-out group: public addresses, IMDS reachable from the containers, the load balancer's
# fixed addresses and no deletion protection on it.
SCALE_OUT: Skips = (
    _pairs("CKV_AWS_88", TEMPLATE)
    | _pairs("CKV_AWS_341", TEMPLATE)
    | _pairs("CKV2_AWS_19", "aws_eip.orthweb_load_balancer_ip_a", "aws_eip.orthweb_load_balancer_ip_b")
    | _pairs("CKV_AWS_150", NLB)
)
# TCP passed through to Envoy: the load balancer has no access log to write.
TLS_AT_ENVOY: Skips = _pairs("CKV_AWS_91", NLB)
# Dev only: a single-AZ database without deletion protection.
DEV_DATABASE: Skips = _pairs("CKV_AWS_157", DATABASE) | _pairs("CKV_AWS_293", DATABASE)
SIGN_IN: Skips = _pairs(
    "CKV2_AWS_57",
    "aws_secretsmanager_secret.orthweb_sign_in_sso_site_client",
    "aws_secretsmanager_secret.orthweb_sign_in_sso_machine_client",
)
# hospitalNetwork on scale-out: the internal load balancer passes plain DICOM as TCP (no access log to
# write) and has no deletion protection, like the public one.
PRIVATE_NLB = "aws_lb.orthweb_private_dicom_nlb"
HOSPITAL_SCALE_OUT: Skips = _pairs("CKV_AWS_91", PRIVATE_NLB) | _pairs("CKV_AWS_150", PRIVATE_NLB)
CLIENT_CERTIFICATES: Skips = _pairs(
    "CKV2_AWS_57",
    "aws_secretsmanager_secret.orthweb_dicom_clients",
    "aws_secretsmanager_secret.orthweb_dicom_clients_trust",
)

# Each stack the compliance tests scan -> what it skips.
EXPECTED_SKIPS: dict[str, Skips] = {
    "dev": EVERY_STACK | FAILOVER_HOSTS | DEV_DATABASE,
    "prod": EVERY_STACK | FAILOVER_HOSTS,
    "scale-out dev": EVERY_STACK | SCALE_OUT | TLS_AT_ENVOY | DEV_DATABASE,
    "scale-out prod": EVERY_STACK | SCALE_OUT | TLS_AT_ENVOY,
    "scale-out prod, TLS at the load balancer": EVERY_STACK | SCALE_OUT,
    "dev, sign-in": EVERY_STACK | FAILOVER_HOSTS | DEV_DATABASE | SIGN_IN,
    "dev, client certificates": EVERY_STACK | FAILOVER_HOSTS | DEV_DATABASE | CLIENT_CERTIFICATES,
    "dev, hospital network": EVERY_STACK | FAILOVER_HOSTS | DEV_DATABASE,
    "scale-out prod, TLS at the load balancer, hospital network": EVERY_STACK | SCALE_OUT | HOSPITAL_SCALE_OUT,
}


def skipped(report: Report) -> Skips:
    """What a checkov report skipped, as (check, Terraform address)."""
    return frozenset((s.result.id, s.result.resource) for s in report.skipped)
