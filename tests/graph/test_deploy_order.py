"""What must exist before what, where AWS checks at creation time rather than later."""

from __future__ import annotations

from orthweb.evaluate import Evaluation


def test_the_flow_log_waits_for_the_log_bucket_policy(stack: Evaluation) -> None:
    # CreateFlowLogs checks that the log delivery service may write to the bucket; created before
    # the policy grants it, the flow log fails or AWS adds its own policy statements.
    flow_log = stack.one("aws:ec2/flowLog:FlowLog")
    policy = stack.named("orthweb-storage-logs-policy")
    assert policy.urn in stack.ancestors(flow_log.urn)
