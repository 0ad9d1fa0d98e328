"""Every ARN the program builds follows the partition AWS reports, never a literal `arn:aws:`.

The mock engine answers a made-up partition and builds its own ARNs with it, so any `arn:aws:`
left in what the program sends was written into the program. (Configuration refuses regions of
other partitions; this keeps the program itself honest about the ones it builds.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orthweb.evaluate import evaluate, plain
from orthweb.evaluate.mocks import MOCK_ACCOUNT, MockAccount

PARTITION = "aws-mock"
ACCOUNT = MockAccount(
    partition=PARTITION,
    caller_arn=f"arn:{PARTITION}:sts::{MOCK_ACCOUNT}:assumed-role/Deployer/session",
    role_arns=(f"arn:{PARTITION}:iam::{MOCK_ACCOUNT}:role/Deployer",),
)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_arn_is_built_with_a_literal_partition(empty_home: Path, stack: str) -> None:
    evaluation = evaluate(stack, home=empty_home, account=ACCOUNT)
    literal = [r.name for r in evaluation.resources if "arn:aws:" in json.dumps(plain(r.inputs))]
    assert literal == []
    built = [r.name for r in evaluation.resources if f"arn:{PARTITION}:" in json.dumps(plain(r.inputs))]
    assert len(built) >= 10, "the scan must see the policies and ARNs the program builds"
