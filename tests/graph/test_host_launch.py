"""Both topologies launch hosts from one description (orthweb.infra.host_launch.HostLaunch): a
failover host and a scale-out member get the same key pair, IMDS options, root volume, instance
profile, monitoring, firewall egress and bundle wiring."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from orthweb.evaluate import Evaluation, RecordedResource, evaluate
from orthweb.infra.host_launch import HostLaunch
from orthweb.infra.hosts import HostsArgs
from orthweb.infra.scaling_group import ScalingGroupArgs
from orthweb.shared.constants import BUNDLE_TAG

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
KEY_PAIR = "aws:ec2/keyPair:KeyPair"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
# What the description says beyond the defaults, so that each part shows in both graphs.
CHANGES: dict[str, Any] = {
    "dicomModalities": ["CT_1@10.20.0.15:104", "MR_2@10.20.0.16:11112"],
    "deploymentOptions": {"rootVolumeGb": 40},
}


@pytest.fixture(scope="module")
def topologies(empty_home: Path, ed25519_public_key: str) -> tuple[Evaluation, Evaluation]:
    changes = {**CHANGES, "pubkeyData": ed25519_public_key}
    failover = evaluate("dev", changes, home=empty_home)
    scale_out = evaluate("dev", {**changes, "topology": "scale-out"}, home=empty_home)
    return failover, scale_out


def _host_and_template(topologies: tuple[Evaluation, Evaluation]) -> tuple[RecordedResource, RecordedResource]:
    failover, scale_out = topologies
    return failover.named("orthweb-hosts-primary"), scale_out.one(LAUNCH_TEMPLATE)


def test_both_topologies_take_the_launch_description_and_repeat_none_of_it() -> None:
    shared = {field.name for field in dataclasses.fields(HostLaunch)}
    for args in (HostsArgs, ScalingGroupArgs):
        own = {field.name for field in dataclasses.fields(args)}
        assert "launch" in own and not own & shared, args.__name__


def test_imds_root_volume_profile_and_monitoring_are_the_same(topologies: tuple[Evaluation, Evaluation]) -> None:
    host, template = _host_and_template(topologies)
    assert host.inputs["metadataOptions"] == template.inputs["metadataOptions"]
    assert host.inputs["metadataOptions"]["httpTokens"] == "required"
    volume, ebs = host.inputs["rootBlockDevice"], template.inputs["blockDeviceMappings"][0]["ebs"]
    assert [volume[k] for k in ("volumeType", "volumeSize", "kmsKeyId")] == [
        ebs[k] for k in ("volumeType", "volumeSize", "kmsKeyId")
    ]
    assert volume["volumeSize"] == 40 and volume["encrypted"] is True and ebs["encrypted"] == "true"
    assert host.inputs["iamInstanceProfile"] == template.inputs["iamInstanceProfile"]["name"]
    assert host.inputs["monitoring"] is True and template.inputs["monitoring"] == {"enabled": True}


def test_the_same_key_pair_is_offered(topologies: tuple[Evaluation, Evaluation], ed25519_public_key: str) -> None:
    keys = [stack.one(KEY_PAIR).inputs["publicKey"] for stack in topologies]
    assert keys == [ed25519_public_key, ed25519_public_key]


def test_the_hosts_may_open_the_same_connections(topologies: tuple[Evaluation, Evaluation]) -> None:
    def egress(stack: Evaluation, firewall: str) -> set[tuple[Any, ...]]:
        rules = [r for r in stack.of_type(EGRESS) if r.name.startswith(f"{firewall}-out-")]
        return {(r.inputs["description"], r.inputs["fromPort"], r.inputs["cidrIpv4"]) for r in rules}

    failover, scale_out = topologies
    rules = egress(failover, "orthweb-hosts-sg")
    assert rules == egress(scale_out, "orthweb-group-sg")
    assert {port for _, port, _ in rules} == {443, 5432, 104, 11112}


def test_each_host_names_its_bundle_and_waits_for_it(topologies: tuple[Evaluation, Evaluation]) -> None:
    host, template = _host_and_template(topologies)
    (instance_tags,) = [s["tags"] for s in template.inputs["tagSpecifications"] if s["resourceType"] == "instance"]
    assert BUNDLE_TAG in host.inputs["tags"] and BUNDLE_TAG in instance_tags
    for launched in (host, template):
        waits_for = {urn.rsplit("::", 1)[-1] for urn in launched.dependencies}
        assert {"orthweb-host-identity-bundle-read"} <= waits_for
        assert any(name.startswith("orthweb-host-application-") and name.endswith("-bundle") for name in waits_for)
