"""Which AMI each host gets: a new AMI release alone never replaces a host; a host replaced for any
reason gets the current Amazon Linux 2023; a pinned `amiId` wins.

`ignore_changes=["ami"]` would keep the first AMI forever, also for a host replaced because its
user data changed. The program reads the live host instead (by its tags) and keeps its AMI only
while none of the host's other replacement-forcing inputs change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orthweb.evaluate import PROJECT_ROOT, Evaluation, evaluate, plain
from orthweb.evaluate import run as run_module
from orthweb.evaluate.mock_account import LiveHost, MockAccount
from orthweb.evaluate.mocks import OfflineMocks
from orthweb.evaluate.monitor import RecordingMonitor
from orthweb.evaluate.replacement import replaced
from orthweb.infra.host_image import launch_matches

HOST = "aws:ec2/instance:Instance"
ROLES = ("primary", "secondary")
OLD_AMI = "ami-0aaaaaaaaaaaaaaa1"
PINNED = "ami-0123456789abcdef0"


def host(stack: Evaluation, role: str) -> dict:
    return plain(stack.named(f"orthweb-hosts-{role}").inputs)


def current_ami(stack: Evaluation) -> str:
    """What the public SSM parameter for the latest AL2023 says today (the mock's answer)."""
    (parameter,) = {host(stack, role)["ami"] for role in ROLES}
    return parameter


def running(stack: Evaluation, *, ami: str = OLD_AMI, **changed: str) -> MockAccount:
    """An account where `stack`'s hosts run, launched from `ami` (and with `changed` inputs)."""
    hosts = {}
    for role in ROLES:
        inputs = host(stack, role)
        fields = {
            "ami": ami,
            "user_data_base64": inputs["userDataBase64"],
            "subnet_id": inputs["subnetId"],
            "key_name": inputs.get("keyName") or "",
            "root_volume_key_arn": inputs["rootBlockDevice"]["kmsKeyId"],
        }
        hosts[role] = LiveHost(**{**fields, **changed})
    return MockAccount(live_hosts=hosts)


def test_a_first_deploy_uses_the_current_amazon_linux(dev: Evaluation) -> None:
    assert current_ami(dev).startswith("ami-")
    for role in ROLES:
        assert "ami" not in dev.named(f"orthweb-hosts-{role}").ignore_changes


def test_a_new_ami_release_alone_never_replaces_a_host(empty_home: Path, stack: Evaluation) -> None:
    later = evaluate(stack.stack, home=empty_home, account=running(stack))
    assert {host(later, role)["ami"] for role in ROLES} == {OLD_AMI}
    assert current_ami(stack) != OLD_AMI


def test_a_host_replaced_for_new_user_data_gets_the_current_ami(empty_home: Path, dev: Evaluation) -> None:
    account = running(dev, user_data_base64="b2xkIHVzZXIgZGF0YQ==")
    later = evaluate("dev", home=empty_home, account=account)
    assert {host(later, role)["ami"] for role in ROLES} == {current_ami(dev)}


def test_a_host_replaced_for_a_new_ssh_key_gets_the_current_ami(empty_home: Path, dev: Evaluation) -> None:
    account = running(dev, key_name="orthweb-hosts-ssh-key-old")
    later = evaluate("dev", home=empty_home, account=account)
    assert {host(later, role)["ami"] for role in ROLES} == {current_ami(dev)}


def test_changed_user_data_replaces_the_hosts_and_only_them(empty_home: Path, dev: Evaluation) -> None:
    before = evaluate("dev", home=empty_home, account=running(dev))
    after = evaluate("dev", {"deploymentOptions": {"orthancReplicas": 2}}, home=empty_home, account=running(dev))
    assert sorted(replaced(before, after)) == ["orthweb-hosts-primary", "orthweb-hosts-secondary"]
    assert {host(after, role)["ami"] for role in ROLES} == {current_ami(dev)}


def test_a_pinned_ami_wins_over_the_live_and_the_current_one(empty_home: Path, dev: Evaluation) -> None:
    pinned = evaluate("dev", {"deploymentOptions": {"amiId": PINNED}}, home=empty_home, account=running(dev))
    assert {host(pinned, role)["ami"] for role in ROLES} == {PINNED}


@pytest.mark.parametrize(
    ("live", "matches"),
    [
        ({}, True),
        ({"user_data_base64": "b3RoZXI="}, False),
        ({"subnet_id": "subnet-other"}, False),
        ({"key_name": "other"}, False),
        ({"root_volume_key_arn": "arn:aws:kms:us-east-1:123456789012:key/other"}, False),
    ],
)
def test_only_the_replacement_forcing_inputs_decide(live: dict, matches: bool) -> None:
    wanted = {
        "user_data_base64": "dXNlciBkYXRh",
        "subnet_id": "subnet-1",
        "key_name": "",
        "root_volume_key_arn": "arn:aws:kms:us-east-1:123456789012:key/k",
    }
    assert launch_matches(live={**wanted, **live}, wanted=wanted) is matches


# --- the scale-out group's launch template: a new image is a new version and an instance refresh ---

GROUP_PROGRAM = """
import pulumi

from orthweb.infra.host_launch import HostLaunch
from orthweb.infra.scaling_group import ScalingGroup, ScalingGroupArgs
from orthweb.infra.user_data import HostBoot

BOOT = HostBoot(
    user_data_base64=pulumi.Output.from_input("{user_data}"),
    bundle_sha256=pulumi.Output.from_input("{digest}"),
    bundle_uri=pulumi.Output.from_input("s3://orthweb-dev-host-bundles/bundles/{digest}.tar"),
    ready=[],
)
ScalingGroup(
    "orthweb-group",
    ScalingGroupArgs(
        launch=HostLaunch(
            stack="dev",
            vpc_id="vpc-0123",
            vpc_cidr="172.27.0.0/16",
            subnet_ids=["subnet-a", "subnet-b"],
            instance_type="t4g.medium",
            instance_architectures=["arm64"],
            current_ami_id="{current}",
            instance_profile="orthweb-hosts",
            key_arn="{key}",
            root_volume_gb=30,
            boot=lambda role: BOOT,
            public_key=None,
            pinned_ami_id={pinned!r},
        ),
        launch_role_arn="arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_t",
        load_balancer_security_group_id="sg-lb",
        target_group_arns=["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"],
        desired_size=2,
        min_size=2,
        max_size=4,
    ),
)
"""
GROUP_KEY = "arn:aws:kms:us-east-1:123456789012:key/group"
GROUP_USER_DATA = "dXNlciBkYXRh"
CURRENT = "ami-0cccccccccccccccc"


def group_image(tmp_path: Path, home: Path, *, members: dict[str, LiveHost], pinned: str | None = None) -> str:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        (tmp_path / name).write_text((PROJECT_ROOT / name).read_text())
    program = GROUP_PROGRAM.format(
        current=CURRENT, key=GROUP_KEY, user_data=GROUP_USER_DATA, digest="0" * 64, pinned=pinned
    )
    (tmp_path / "__main__.py").write_text(program)
    evaluation = evaluate("dev", project_dir=tmp_path, home=home, account=MockAccount(live_hosts=members))
    return evaluation.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["imageId"]


def member(user_data: str = GROUP_USER_DATA) -> dict[str, LiveHost]:
    return {"member": LiveHost(OLD_AMI, user_data, "subnet-b", "", GROUP_KEY)}


def test_a_new_group_launches_the_current_ami(tmp_path: Path, empty_home: Path) -> None:
    assert group_image(tmp_path, empty_home, members={}) == CURRENT


def test_a_new_ami_release_alone_makes_no_new_template_version(tmp_path: Path, empty_home: Path) -> None:
    assert group_image(tmp_path, empty_home, members=member()) == OLD_AMI


def test_a_refresh_for_new_user_data_brings_the_current_ami(tmp_path: Path, empty_home: Path) -> None:
    assert group_image(tmp_path, empty_home, members=member(user_data="b2xk")) == CURRENT


def test_a_pinned_ami_is_the_group_image(tmp_path: Path, empty_home: Path) -> None:
    assert group_image(tmp_path, empty_home, members=member(), pinned=PINNED) == PINNED


# --- a pinned AMI must run on the instance type -------------------------------------------------


def attempt(monkeypatch: pytest.MonkeyPatch, home: Path, config: dict, account: MockAccount) -> tuple[str, set[str]]:
    """Evaluate and expect a refusal: its message, and the resource types registered before it."""
    monitors = []
    original = run_module.RecordingMonitor

    def recording(mocks: OfflineMocks) -> RecordingMonitor:
        monitors.append(original(mocks))
        return monitors[-1]

    monkeypatch.setattr(run_module, "RecordingMonitor", recording)
    with pytest.raises(Exception) as caught:
        evaluate("dev", config, home=home, account=account)
    return str(caught.value), {record.type for record in monitors[0].records}


@pytest.mark.parametrize("topology", ["failover", "scale-out"])
def test_a_pinned_ami_of_another_architecture_stops_up_before_any_host(
    monkeypatch: pytest.MonkeyPatch, empty_home: Path, topology: str
) -> None:
    """EC2 refuses to launch an AMI on an instance type of another architecture (RunInstances:
    InvalidParameterValue "The architecture 'arm64' of the specified instance type does not match the
    architecture 'x86_64' of the specified AMI ... use describe-instance-types or describe-images", as
    reported in eksctl-io/eksctl#8235; CreateAutoScalingGroup gives the same answer for its launch
    template), halfway through a deployment. `pulumi up` asks
    both first (aws.ec2.get_ami: DescribeImages' Architecture; aws.ec2.get_instance_type:
    SupportedArchitectures) and stops with one line before any host or launch template exists."""
    account = MockAccount(images={PINNED: "x86_64"})
    config = {"topology": topology, "deploymentOptions": {"amiId": PINNED, "instanceType": "t4g.small"}}
    message, registered = attempt(monkeypatch, empty_home, config, account)
    assert "\n" not in message
    for named in ("deploymentOptions.amiId", PINNED, "x86_64", "t4g.small", "arm64"):
        assert named in message, named
    assert not registered & {HOST, "aws:ec2/launchTemplate:LaunchTemplate", "aws:autoscaling/group:Group"}


def test_a_pinned_ami_of_the_instance_types_architecture_is_used(empty_home: Path) -> None:
    account = MockAccount(images={PINNED: "x86_64"})
    config = {"deploymentOptions": {"amiId": PINNED, "instanceType": "t3.large"}}
    evaluation = evaluate("dev", config, home=empty_home, account=account)
    assert {host(evaluation, role)["ami"] for role in ROLES} == {PINNED}


def test_a_host_moved_to_the_other_architecture_gets_an_ami_of_it(empty_home: Path, dev: Evaluation) -> None:
    """An AMI is built for one architecture and EC2 refuses it on an instance type of another
    (RunInstances' "does not match the architecture ... of the specified AMI"): a t4g host's arm64
    AMI is kept only while the instance type stays arm64; on t3 the host gets the current x86_64 one."""
    moved = {"deploymentOptions": {"instanceType": "t3.large"}}
    fresh = evaluate("dev", moved, home=empty_home)
    later = evaluate("dev", moved, home=empty_home, account=running(dev))
    assert {host(later, role)["ami"] for role in ROLES} == {current_ami(fresh)} != {OLD_AMI}
