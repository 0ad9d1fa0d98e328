"""The log bucket admits the load balancer's access logs only when the stack has a load balancer."""

from __future__ import annotations

import json

from parliament import analyze_policy_string

from orthweb.infra import policies
from orthweb.shared.constants import LOAD_BALANCER_LOGS_PREFIX

BUCKET = "arn:aws:s3:::orthweb-dev-logs-abc"
ACCOUNT = "123456789012"


def _statements(load_balancer_logs: bool) -> dict[str, dict]:
    document = policies.log_bucket_policy(
        bucket_arn=BUCKET,
        account_id=ACCOUNT,
        source_bucket_arns=["arn:aws:s3:::orthweb-dev-dicom-abc"],
        load_balancer_logs=load_balancer_logs,
    )
    findings = [(f.issue, f.detail) for f in analyze_policy_string(json.dumps(document)).findings]
    assert findings == []
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_the_delivery_service_writes_under_the_prefix_and_account_the_load_balancer_uses() -> None:
    write = _statements(load_balancer_logs=True)["LoadBalancerLogsWrite"]
    assert write["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert write["Action"] == "s3:PutObject"
    # ELB appends AWSLogs/<account>/ to the configured prefix itself.
    assert write["Resource"] == f"{BUCKET}/{LOAD_BALANCER_LOGS_PREFIX}/AWSLogs/{ACCOUNT}/*"
    assert write["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert "AWSLogs" not in LOAD_BALANCER_LOGS_PREFIX, "ELB refuses a prefix containing AWSLogs"


def test_without_a_load_balancer_the_policy_is_unchanged() -> None:
    assert "LoadBalancerLogsWrite" not in _statements(load_balancer_logs=False)
