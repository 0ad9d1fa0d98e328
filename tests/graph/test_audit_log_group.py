"""The audit log group and the audit bucket's copy: the audit lines of Envoy and Orthanc copied, as
they arrive, into one group under the stack key, kept `auditRetentionDays` (never less than the
groups they come from), and into files the Object Lock audit bucket keeps, by a Lambda function that
may write there and nowhere else, with a watched dead-letter queue.

External rules encoded here: CloudWatch Logs User Guide, "Using CloudWatch Logs subscription
filters" / "Example: Subscription filters with AWS Lambda" (logs.amazonaws.com invokes the function,
the permission's source ARN is the group's ARN with ":*", and the source account); CloudWatch Logs
API Reference, PutRetentionPolicy (the accepted retention values; 0 in the provider: never expire)
and PutLogEvents (CreateLogStream and PutLogEvents on the stream's ARN); Lambda Developer Guide,
"Asynchronous invocation" (a dead-letter queue receives an event after two retries; the execution
role needs sqs:SendMessage, and kms:GenerateDataKey/Decrypt for an encrypted queue).
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from parliament import analyze_policy_string

from orthweb.evaluate import Evaluation, evaluate
from orthweb.evaluate.host_files import host_files
from orthweb.infra.functions import audit_copy
from orthweb.ops.cost import estimate
from orthweb.shared import telemetry
from orthweb.shared.constants import AUDIT_LINES_PREFIX
from tests.python_source import parse

GROUP = "orthweb-audit-lines-group"
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
FILTER = "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SOURCES = (telemetry.ENVOY_LOGS, telemetry.ORTHANC_LOGS)
ACCOUNT = "123456789012"


def key_arn(stack: Evaluation) -> str:
    return stack.named("orthweb-encryption-key").state["arn"]


def group_arn(stack: Evaluation, component: str) -> str:
    return f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{telemetry.log_group_name(stack.stack, component)}"


def test_one_group_under_the_stack_key_kept_the_audit_days_or_longer(dev: Evaluation, prod: Evaluation) -> None:
    for stack, days in ((prod, 2192), (dev, 365)):
        group = stack.named(GROUP)
        assert group.inputs["name"] == f"/orthweb/{stack.stack}/audit"
        assert group.inputs["kmsKeyId"] == key_arn(stack)
        # Prod: six years (2190) rounded up to what CloudWatch Logs accepts. Dev: a week of audit
        # days, but never shorter than the hosts' own groups (365), so no line leaves it first.
        assert group.inputs["retentionInDays"] == days
        assert days >= stack.named("orthweb-monitoring-log-envoy").inputs["retentionInDays"]
    # A stack that keeps its data keeps who saw it, and AWS refuses to delete it; a dev stack takes it along.
    assert prod.named(GROUP).retain_on_delete and not dev.named(GROUP).retain_on_delete
    assert prod.named(GROUP).inputs["deletionProtectionEnabled"] is True
    assert dev.named(GROUP).inputs["deletionProtectionEnabled"] is False


@pytest.mark.parametrize(
    ("audit_days", "log_days", "kept"),
    [(2190, 731, 2192), (7, 365, 365), (400, 731, 731), (3650, 731, 3653), (3654, 731, 0), (36500, 731, 0)],
)
def test_the_retention_is_one_cloudwatch_accepts_never_shorter(audit_days: int, log_days: int, kept: int) -> None:
    """The shortest value PutRetentionPolicy accepts that covers both; 0 (never expire) past ten years."""
    assert telemetry.audit_log_retention_days(audit_days, log_days) == kept
    assert kept == 0 or kept in telemetry.LOG_RETENTION_DAYS


def test_a_stack_sets_the_group_from_its_audit_days(empty_home: Path) -> None:
    stack = evaluate("prod", {"deploymentOptions": {"auditRetentionDays": 3654}}, home=empty_home)
    assert stack.named(GROUP).inputs["retentionInDays"] == 0


def test_only_the_audit_lines_of_envoy_and_orthanc_reach_the_function(stack: Evaluation) -> None:
    function = stack.one(FUNCTION)
    into_function = {
        f.inputs["logGroup"]: f for f in stack.of_type(FILTER) if f.inputs["destinationArn"] == function.state["arn"]
    }
    assert set(into_function) == {telemetry.log_group_name(stack.stack, c) for c in SOURCES}
    permissions = {p.inputs["sourceArn"]: p for p in stack.of_type(PERMISSION)}
    assert set(permissions) == {f"{group_arn(stack, c)}:*" for c in SOURCES}
    for component in SOURCES:
        chosen = into_function[telemetry.log_group_name(stack.stack, component)]
        assert chosen.inputs["filterPattern"] == telemetry.audit_line_patterns(seal(stack))[component]
        # No role: CloudWatch Logs invokes through the function's permission, which must exist first.
        assert "roleArn" not in chosen.inputs
        allowed = permissions[f"{group_arn(stack, component)}:*"]
        assert allowed.urn in chosen.dependencies
        assert allowed.inputs["principal"] == "logs.amazonaws.com"
        assert allowed.inputs["action"] == "lambda:InvokeFunction"
        assert allowed.inputs["sourceAccount"] == ACCOUNT
        assert allowed.inputs["function"] == function.inputs["name"]


def seal(stack: Evaluation) -> str:
    return stack.named("orthweb-audit-seal").state["result"]


def test_only_lines_with_the_stacks_seal_pass_and_the_hosts_write_it(stack: Evaluation) -> None:
    """Orthanc's pattern names the seal the hosts' Lua filter prints after the mark, and nothing else
    of the stack's resources carries it: a client of the site cannot learn it."""
    drawn = seal(stack)
    assert telemetry.AUDIT_SEAL.match(drawn)
    assert drawn in telemetry.audit_line_patterns(drawn)[telemetry.ORTHANC_LOGS]
    for role, files in host_files(stack).items():
        lua = files["orthweb-filter.lua"].content
        assert f"print('{telemetry.AUDIT_MARK} {drawn} ' .. line)" in lua, role
    carriers = {
        r.name
        for r in stack.resources
        if drawn in json.dumps(r.inputs, default=str) and r.type != "random:index/randomString:RandomString"
    }
    # The hosts' bundles and launch data, and the Orthanc group's subscription filter: no output,
    # no tag, no policy.
    assert carriers == {f for f in carriers if "bundle" in f or "hosts" in f or "launch" in f} | {
        "orthweb-audit-lines-orthanc"
    }


def test_the_function_packages_this_file_and_its_settings_only(stack: Evaluation) -> None:
    function = stack.one(FUNCTION).inputs
    assert function["name"] == telemetry.audit_copy_function_name(stack.stack)
    archive = function["code"]["archive"]
    assert set(archive) == {"audit_copy.py", "settings.json"}
    assert Path(archive["audit_copy.py"]["path"]) == Path(audit_copy.__file__)
    settings = json.loads(archive["settings.json"]["text"])
    assert settings == {
        "log_group": telemetry.log_group_name(stack.stack, telemetry.AUDIT_LOGS),
        "sources": [telemetry.log_group_name(stack.stack, c) for c in SOURCES],
        # The Object Lock audit bucket, where the trail's files are too, under its own prefix.
        "bucket": stack.named("orthweb-audit-audit").state["bucket"],
        "prefix": AUDIT_LINES_PREFIX,
    }
    assert stack.named("orthweb-audit-audit").inputs["objectLockEnabled"] is True
    assert function["handler"] == "audit_copy.handler" and callable(audit_copy.handler)
    assert function["runtime"].startswith("python3.") and function["architectures"] == ["arm64"]
    # Nothing in environment variables (they would need their own key); failures to the queue.
    assert "environment" not in function
    queue = stack.named("orthweb-audit-lines-failed-batches")
    assert function["deadLetterConfig"] == {"targetArn": queue.state["arn"]}
    own_log = stack.named("orthweb-audit-lines-function-log").inputs
    assert function["loggingConfig"]["logGroup"] == own_log["name"] == f"/aws/lambda/{function['name']}"
    # Its own log keeps what went wrong, not a START/END/REPORT line per batch.
    logging = function["loggingConfig"]
    assert (logging["logFormat"], logging["applicationLogLevel"], logging["systemLogLevel"]) == ("JSON", "WARN", "WARN")
    assert own_log["kmsKeyId"] == key_arn(stack)


def test_the_packaged_file_needs_nothing_lambda_lacks() -> None:
    """Lambda's Python runtime has the standard library and boto3; nothing of orthweb is packaged."""
    tree = parse(Path(audit_copy.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported - set(sys.stdlib_module_names) == {"boto3"}


def role_documents(stack: Evaluation) -> tuple[dict[str, Any], dict[str, Any]]:
    role = stack.named("orthweb-audit-lines-role")
    (policy,) = [p for p in stack.of_type(ROLE_POLICY) if p.inputs["role"] == role.id]
    return json.loads(role.inputs["assumeRolePolicy"]), json.loads(policy.inputs["policy"])


def test_the_function_may_write_audit_lines_and_nothing_else(stack: Evaluation) -> None:
    trust, permissions = role_documents(stack)
    (assume,) = trust["Statement"]
    assert assume["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert assume["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert stack.one(FUNCTION).inputs["role"] == stack.named("orthweb-audit-lines-role").state["arn"]
    by_sid = {s["Sid"]: s for s in permissions["Statement"]}
    assert set(by_sid) == {
        "KeepAuditFiles",
        "EncryptAuditFilesThroughS3",
        "WriteAuditLines",
        "KeepFailedBatches",
        "EncryptFailedBatchesThroughSqs",
    }
    bucket = stack.named("orthweb-audit-audit").state["arn"]
    # New files under its own prefix: not the trail's files, no reading, no deleting, no retention change.
    assert by_sid["KeepAuditFiles"]["Action"] == "s3:PutObject"
    assert by_sid["KeepAuditFiles"]["Resource"] == f"{bucket}/{AUDIT_LINES_PREFIX}*"
    s3_key = by_sid["EncryptAuditFilesThroughS3"]
    assert (s3_key["Action"], s3_key["Resource"]) == ("kms:GenerateDataKey", key_arn(stack))
    assert s3_key["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket, f"{bucket}/*"]},
    }
    own = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{telemetry.audit_copy_function_name(stack.stack)}"
    write = by_sid["WriteAuditLines"]
    assert write["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    # The audit group's streams and its own log: not the hosts' groups, never a group-wide action.
    assert write["Resource"] == [f"{group_arn(stack, telemetry.AUDIT_LOGS)}:log-stream:*", f"{own}:log-stream:*"]
    assert by_sid["KeepFailedBatches"]["Resource"] == stack.named("orthweb-audit-lines-failed-batches").state["arn"]
    assert by_sid["KeepFailedBatches"]["Action"] == "sqs:SendMessage"
    kms = by_sid["EncryptFailedBatchesThroughSqs"]
    assert kms["Resource"] == key_arn(stack)
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}}
    actions = [a for s in by_sid.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not [a for a in actions if "Delete" in a or "Get" in a or "Retention" in a or "LegalHold" in a or "*" in a]
    assert [(f.issue, f.detail) for f in analyze_policy_string(json.dumps(permissions)).findings] == []


def test_a_failed_batch_is_kept_encrypted_and_raises_an_alarm(stack: Evaluation) -> None:
    queue = stack.named("orthweb-audit-lines-failed-batches").inputs
    assert queue["name"] == telemetry.audit_copy_failed_queue_name(stack.stack)
    assert queue["kmsMasterKeyId"] == key_arn(stack)
    assert queue["messageRetentionSeconds"] == 14 * 24 * 3600
    alarm = stack.named("orthweb-monitoring-audit-copy-failed").inputs
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["dimensions"] == {"QueueName": queue["name"]}
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanOrEqualToThreshold", 1.0)
    assert alarm["alarmActions"] == [stack.named("orthweb-monitoring-alarms").state["arn"]]


def test_the_key_lets_cloudwatch_logs_encrypt_the_audit_group_and_the_functions_log(stack: Evaluation) -> None:
    policy = json.loads(stack.named("orthweb-encryption-key").inputs["policy"])
    (logs,) = [s for s in policy["Statement"] if s.get("Sid") == "CloudWatchLogsEncryption"]
    groups = logs["Condition"]["StringLike"]["kms:EncryptionContext:aws:logs:arn"]
    own = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{telemetry.audit_copy_function_name(stack.stack)}"
    assert group_arn(stack, telemetry.AUDIT_LOGS) in groups and own in groups


def test_the_plan_prices_the_copy_at_a_stated_volume(stack: Evaluation) -> None:
    (line,) = [i for i in estimate(stack.resources, "us-east-1").items if i.item.startswith("Lambda, CloudWatch")]
    assert line.usage_based and line.note is not None
    assert "$0.50 per GB ingested ($5.00)" in line.note and "10 GB of audit lines" in line.note
    assert "$0.005 per 1,000" in line.note  # a PUT per batch into the audit bucket
