"""Which AMI a host is launched from, so that a new AMI release alone never replaces a host.

The AMI is a replacement-forcing input of an EC2 instance. Following the public SSM parameter
would replace every host on the first `up` after each Amazon Linux release; `ignore_changes` on the
AMI would keep the first AMI forever, also for a host replaced for another reason. Instead: a
host that runs already keeps its AMI as long as none of its other replacement-forcing inputs
(user data, subnet, key pair, root volume key) change and its instance type keeps its
architecture; a host that is new or replaced anyway gets the current AMI; a pinned AMI (config
`deploymentOptions.amiId`) always wins, once EC2 says the instance type runs its architecture.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from orthweb.infra import instance_types
from orthweb.infra.tags import with_role

# Every state a host can be found in that it can come back from (a stopped secondary included).
LIVE_STATES = ("pending", "running", "stopping", "stopped")


@dataclass(frozen=True)
class LaunchInputs:
    """What the host is launched with besides the AMI that replaces it when it changes."""

    user_data_base64: pulumi.Input[str]
    # None for an Auto Scaling group's members: the group picks their subnets.
    subnet_id: pulumi.Input[str] | None
    key_name: pulumi.Input[str] | None
    root_volume_key_arn: pulumi.Input[str]


class ImageArchitectureError(pulumi.RunError):
    """A pinned AMI the instance type cannot run: one line, before any host is created."""


@dataclass(frozen=True)
class InstanceType:
    name: str
    # What EC2's instance-type lookup says it runs (SupportedArchitectures).
    architectures: pulumi.Input[Sequence[str] | None]


def host_image(
    *,
    stack: str,
    role: str,
    launch: LaunchInputs,
    current_ami: pulumi.Input[str],
    pinned_ami: str | None,
    instance_type: InstanceType,
) -> pulumi.Output[str]:
    """The AMI for the host with this role tag (see the module's rule)."""
    if pinned_ami:
        return runnable_pin(pinned_ami, instance_type)
    live = aws.ec2.get_instances_output(instance_tags=with_role(stack, role), instance_state_names=list(LIVE_STATES))
    compared: dict[str, pulumi.Input[str]] = {
        "user_data_base64": launch.user_data_base64,
        "key_name": launch.key_name or "",
        "root_volume_key_arn": launch.root_volume_key_arn,
        # An AMI serves one architecture: a host moved to a type of the other one needs another.
        "architecture": instance_types.architecture(instance_type.name),
    }
    if launch.subnet_id is not None:
        compared["subnet_id"] = launch.subnet_id
    wanted = pulumi.Output.all(**compared)
    return live.ids.apply(lambda ids: _reusable_ami(sorted(ids), wanted, current_ami))


def _reusable_ami(
    instance_ids: Sequence[str], wanted: pulumi.Output[dict[str, Any]], current_ami: pulumi.Input[str]
) -> pulumi.Output[str]:
    if not instance_ids:
        return pulumi.Output.from_input(current_ami)
    described = [aws.ec2.get_instance_output(instance_id=i, get_user_data=True) for i in instance_ids]
    return pulumi.Output.all(wanted, current_ami, *described).apply(
        lambda found: _choose(wanted=found[0], current_ami=found[1], hosts=found[2:])
    )


def _choose(*, wanted: Mapping[str, Any], current_ami: str, hosts: Sequence[Any]) -> str:
    for described in hosts:
        devices = described.root_block_devices or []
        live = {
            "user_data_base64": described.user_data_base64 or "",
            "subnet_id": described.subnet_id,
            "key_name": described.key_name or "",
            "root_volume_key_arn": devices[0].kms_key_id if devices else "",
            "architecture": instance_types.architecture(described.instance_type),
        }
        if launch_matches(live=live, wanted=wanted):
            return described.ami
    return current_ami


def launch_matches(*, live: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether the live host was launched with what is wanted now (besides the AMI), comparing
    the inputs `wanted` names."""
    others = [name for name in wanted if name != "user_data_base64"]
    return _decoded(live["user_data_base64"]) == _decoded(wanted["user_data_base64"]) and all(
        (live.get(name) or "") == (wanted[name] or "") for name in others
    )


def _decoded(text: str) -> bytes:
    # EC2 returns the bytes it stores in its own base64; compare bytes, not spellings.
    try:
        return base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError):
        return b"not base64: " + (text or "").encode()


def runnable_pin(ami_id: str, instance_type: InstanceType) -> pulumi.Output[str]:
    """The pinned AMI once DescribeImages shows an architecture the instance type runs; EC2 itself
    refuses it only when a host is launched (for the group, when the group is created), halfway
    through `pulumi up`."""
    image = aws.ec2.get_ami_output(
        filters=[aws.ec2.GetAmiFilterArgs(name="image-id", values=[ami_id])],
        # A pinned AMI may be past its deprecation date; EC2 still launches it by id.
        include_deprecated=True,
    )
    return pulumi.Output.all(image.architecture, instance_type.architectures).apply(
        lambda found: _runnable(ami_id, found[0], instance_type.name, found[1] or ())
    )


def _runnable(ami_id: str, architecture: str | None, instance_type: str, architectures: Sequence[str]) -> str:
    # EC2 always names both; offline, an AMI or a type the engine has no record of comes without.
    if architecture and architectures and architecture not in architectures:
        raise ImageArchitectureError(
            f"deploymentOptions.amiId {ami_id} is an {architecture} image, but instanceType {instance_type} "
            f"runs {' or '.join(architectures)}: pin an AMI of that architecture, or choose an instance type "
            f"for {architecture}"
        )
    return ami_id
