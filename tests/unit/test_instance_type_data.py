"""The offline engine's instance-type table is EC2's own answer, and the mock engine answers the
provider's instance-type lookup from it, saying nothing it does not know.

moto serves a recording of EC2's DescribeInstanceTypes (moto/ec2/resources/instance_types.json.gz);
every row of orthweb/data/instance_types.json must equal it, so the table cannot drift into a guess.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import moto
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from orthweb.evaluate.ec2_types import recorded_types
from orthweb.evaluate.mocks import OfflineMocks

LOOKUP = "aws:ec2/getInstanceType:getInstanceType"


def describe_instance_types() -> dict[str, Any]:
    recording = Path(moto.__file__).parent / "ec2/resources/instance_types.json.gz"
    return json.loads(gzip.decompress(recording.read_bytes()))


def lookup(instance_type: str) -> dict[str, Any]:
    args = pulumi_mocks.MockCallArgs(LOOKUP, {"instanceType": instance_type}, "")
    answer, failures = OfflineMocks("us-east-1").call(args)
    assert failures == []
    return answer


def test_every_row_is_what_describe_instance_types_answers() -> None:
    ec2 = describe_instance_types()
    table = recorded_types()
    assert len(table) >= 20
    for name, recorded in table.items():
        described = ec2[name]
        assert recorded.auto_recovery_supported == described["AutoRecoverySupported"], name
        assert list(recorded.architectures) == described["ProcessorInfo"]["SupportedArchitectures"], name


def test_the_stack_files_types_and_both_answers_are_in_the_table() -> None:
    table = recorded_types()
    assert {"t4g.small", "t4g.large"} <= set(table)
    assert {row.auto_recovery_supported for row in table.values()} == {True, False}


@pytest.mark.parametrize(
    ("name", "recovers", "architectures"), [("t4g.small", True, ["arm64"]), ("m5d.large", False, ["x86_64"])]
)
def test_the_mock_answers_a_recorded_type_as_ec2_does(name: str, recovers: bool, architectures: list[str]) -> None:
    answer = lookup(name)
    assert answer["instanceType"] == name
    assert answer["autoRecoverySupported"] is recovers
    assert answer["supportedArchitectures"] == architectures


def test_the_mock_says_nothing_about_a_type_it_has_no_record_of() -> None:
    answer = lookup("c6in.large")
    assert answer["instanceType"] == "c6in.large"
    assert "autoRecoverySupported" not in answer and "supportedArchitectures" not in answer
