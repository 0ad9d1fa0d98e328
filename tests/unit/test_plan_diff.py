"""`plan --diff`: what `pulumi up` would add, replace, update and delete going to this plan.

Replacements are the replacement model's (orthweb/evaluate/replacement.py: force-new inputs as
the Terraform AWS provider's schemas mark them, and replaced resources reaching dependents); a
resource is matched across stacks by its URN without the stack's name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orthweb.commands import cli
from orthweb.config.stack_config import load_config
from orthweb.evaluate.changes import Change, changes
from orthweb.evaluate.model import Evaluation, RecordedResource

CONFIG = load_config({}, stack="t", home=Path("/nonexistent"))
VPC, SUBNET, INSTANCE = "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/instance:Instance"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def resource(stack: str, token: str, name: str, inputs: dict[str, Any], needs: dict[str, str] | None = None):
    def urn(of: str) -> str:
        return f"urn:pulumi:{stack}::orthweb::{of}"

    return RecordedResource(
        urn=urn(f"{token}::{name}"),
        type=token,
        name=name,
        parent=None,
        inputs=inputs,
        dependencies=(),
        property_dependencies={key: (urn(target),) for key, target in (needs or {}).items()},
        custom=True,
        id=name,
        state={},
    )


def stack(name: str, *, cidr: str, instance_type: str, alarm: str | None) -> Evaluation:
    resources = [
        resource(name, VPC, "vpc", {"cidrBlock": cidr}),
        resource(name, SUBNET, "subnet", {"cidrBlock": cidr, "vpcId": "vpc-1"}, {"vpcId": f"{VPC}::vpc"}),
        resource(
            name,
            INSTANCE,
            "host",
            {"instanceType": instance_type, "subnetId": "subnet-1"},
            {"subnetId": f"{SUBNET}::subnet"},
        ),
    ]
    if alarm:
        resources.append(resource(name, ALARM, alarm, {"threshold": 1}))
    return Evaluation(stack=name, config=CONFIG, resources=resources, outputs={})


def test_the_same_program_changes_nothing() -> None:
    assert (
        changes(
            stack("a", cidr="10.0.0.0/16", instance_type="t4g.small", alarm="x"),
            stack("a", cidr="10.0.0.0/16", instance_type="t4g.small", alarm="x"),
        )
        == []
    )


def test_each_action_with_its_reason_across_stacks() -> None:
    before = stack("dev", cidr="10.0.0.0/16", instance_type="t4g.small", alarm="old")
    after = stack("prod", cidr="10.1.0.0/16", instance_type="t4g.large", alarm="new")
    assert changes(before, after) == [
        Change("add", ALARM, "new"),
        Change("replace", INSTANCE, "host", ("needs replaced subnet",)),
        Change("replace", SUBNET, "subnet", ("cidrBlock",)),
        Change("replace", VPC, "vpc", ("cidrBlock",)),
        Change("delete", ALARM, "old"),
    ]
    in_place = stack("dev", cidr="10.0.0.0/16", instance_type="t4g.large", alarm="old")
    assert changes(before, in_place) == [Change("update", INSTANCE, "host", ("instanceType",))]


@pytest.fixture(scope="module")
def vpc_change(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`plan --diff --json` for a new VPC range on the dev stack (two evaluations, run once)."""
    import contextlib
    import io

    home = tmp_path_factory.mktemp("home")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setenv("HOME", str(home))
        code = cli.main(["plan", "--set", "vpcCidr=10.1.0.0/16", "--diff", "--json"])
    assert code == 0
    return json.loads(out.getvalue())


def test_a_new_vpc_range_replaces_the_network_and_the_hosts_and_says_why(vpc_change: dict[str, Any]) -> None:
    assert vpc_change["from"] == "stack dev as its file says"
    assert vpc_change["to"] == "stack dev with --set vpcCidr=10.1.0.0/16"
    replaced = {c["name"]: c["because"] for c in vpc_change["changes"] if c["action"] == "replace"}
    assert replaced["orthweb-network-vpc"] == ["cidrBlock"]
    assert "needs replaced orthweb-network-vpc" in replaced["orthweb-hosts-sg"]
    assert {"orthweb-hosts-primary", "orthweb-hosts-secondary"} <= set(replaced)
    assert vpc_change["counts"]["replace"] == len(replaced) and vpc_change["errors"] == []
