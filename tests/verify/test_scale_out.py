"""verify on a scale-out stack, against moto: the Auto Scaling group, its hosts in service and the
load balancer's target health are found; host checks run on every host in service.

moto 5 reports every running instance registered with a target group as `healthy` (it runs no
health checks), so an unhealthy target is tested on the group facts directly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from orthweb.ops.verify.aws import AwsStack
from orthweb.ops.verify.host import BEGIN, END, CommandOutput
from orthweb.ops.verify.host_checks import HostChecks
from orthweb.ops.verify.model import CheckFailed, Deployment, LoadBalancedGroup, TargetHealth
from orthweb.ops.verify.scale_out import check_targets, group_name
from orthweb.ops.verify.settings import Endpoint, Options
from orthweb.ops.verify.target import Target
from orthweb.shared.constants import DICOM_TLS_PORT, HTTPS_PORT, LB_HEALTH_PATH, LB_HEALTH_PORT
from tests.verify.conftest import CLOUD_INIT_DONE, SITE_NAME, SeededStack, seed_stack
from tools.harness.aws import LocalAws


@dataclass(frozen=True)
class ScaledStack:
    seeded: SeededStack
    load_balancer_dns: str
    members: tuple[str, ...]


def seed_scale_out(aws: LocalAws, name: str, site_pem: tuple[str, str], *, tls: bool) -> ScaledStack:
    """The secrets, key and bucket of a stack, plus what the scale-out topology adds."""
    seeded = seed_stack(aws, name, certificate_pem=site_pem[0], private_key_pem=site_pem[1], admin=("a", "b"))
    clients = seeded.clients
    ec2, elbv2 = clients.ec2, clients.elbv2
    vpc = ec2.create_vpc(CidrBlock="172.27.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"172.27.{i}.0/24", AvailabilityZone=f"eu-west-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    mappings = [{"SubnetId": s, "AllocationId": ec2.allocate_address(Domain="vpc")["AllocationId"]} for s in subnets]
    balancer = elbv2.create_load_balancer(Name=f"orthweb-{name}", Type="network", SubnetMappings=mappings)
    balancer_arn = balancer["LoadBalancers"][0]["LoadBalancerArn"]
    certificate = None
    if tls:
        certificate = clients_acm(aws).request_certificate(DomainName=SITE_NAME, ValidationMethod="DNS")
    target_groups = []
    for port in (HTTPS_PORT, DICOM_TLS_PORT):
        protocol = "TLS" if tls else "TCP"
        target_group = elbv2.create_target_group(
            Name=f"orthweb-{name}-{protocol.lower()}-{port}",
            Protocol=protocol,
            Port=port,
            VpcId=vpc,
            TargetType="instance",
            HealthCheckProtocol="HTTP",
            HealthCheckPort=str(LB_HEALTH_PORT),
            HealthCheckPath=LB_HEALTH_PATH,
        )["TargetGroups"][0]["TargetGroupArn"]
        target_groups.append(target_group)
        listener = {"LoadBalancerArn": balancer_arn, "Protocol": protocol, "Port": port}
        if certificate is not None:
            listener["Certificates"] = [{"CertificateArn": certificate["CertificateArn"]}]
        elbv2.create_listener(**listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}])
    template = ec2.create_launch_template(
        LaunchTemplateName=f"orthweb-{name}",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t4g.medium"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    clients.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group_name(name),
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
        MinSize=2,
        MaxSize=4,
        DesiredCapacity=2,
        VPCZoneIdentifier=",".join(subnets),
        TargetGroupARNs=target_groups,
        HealthCheckType="ELB",
    )
    group = clients.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name(name)])
    members = tuple(sorted(i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]))
    return ScaledStack(seeded, balancer["LoadBalancers"][0]["DNSName"], members)


def clients_acm(aws: LocalAws) -> Any:
    """An ACM client on moto (verify itself never needs one)."""
    import boto3

    from tools.harness.aws import FAKE_CREDENTIALS

    session = boto3.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name="eu-west-1",
    )
    return session.client("acm", endpoint_url=aws.endpoint)


@pytest.fixture(scope="module")
def scaled(local_aws: LocalAws, site_pem: tuple[str, str]) -> ScaledStack:
    return seed_scale_out(local_aws, "scaled", site_pem, tls=False)


def test_locate_finds_the_group_its_hosts_and_the_load_balancer(scaled: ScaledStack) -> None:
    found = AwsStack(scaled.seeded.clients, "scaled").locate()
    assert found.group is not None and found.group.name == "orthweb-scaled-hosts"
    assert found.host_instances == scaled.members and len(scaled.members) == 2
    assert found.serving_role == "member" and found.serving_instance in scaled.members
    # TCP through to Envoy: clients use the load balancer's name and trust the site certificate.
    assert found.site_address == scaled.load_balancer_dns
    assert found.trusted_pem == found.certificate_pem
    assert [t.port for t in found.group.targets] == [HTTPS_PORT, DICOM_TLS_PORT]
    assert check_targets(found.group).endswith("(443: 2/2 healthy, 11112: 2/2 healthy)")


def test_with_tls_at_the_load_balancer_clients_use_the_domain_and_public_trust(
    local_aws: LocalAws, site_pem: tuple[str, str]
) -> None:
    stack = seed_scale_out(local_aws, "scaledtls", site_pem, tls=True)
    found = AwsStack(stack.seeded.clients, "scaledtls").locate()
    assert found.group is not None and found.group.tls_at_load_balancer
    assert found.site_address == SITE_NAME, "the ACM certificate names the site's domain only"
    assert found.trusted_pem is None


def test_a_failover_stack_has_no_group(moto_stack: SeededStack) -> None:
    found = AwsStack(moto_stack.clients, moto_stack.name).locate()
    assert found.group is None and found.host_instances == (moto_stack.primary,)


def test_a_host_the_load_balancer_shuns_fails_lb_targets_with_its_reason() -> None:
    group = LoadBalancedGroup(
        name="orthweb-dev-hosts",
        in_service=("i-a", "i-b"),
        load_balancer_name="orthweb-dev",
        load_balancer_dns="orthweb-dev.elb.example",
        tls_at_load_balancer=False,
        targets=(
            TargetHealth(HTTPS_PORT, ("i-a",), (("i-b", "unhealthy Target.ResponseCodeMismatch"),)),
            TargetHealth(DICOM_TLS_PORT, ("i-a",), ()),
        ),
    )
    with pytest.raises(CheckFailed) as failed:
        check_targets(group)
    assert "port 443: i-b unhealthy Target.ResponseCodeMismatch" in failed.value.detail
    assert "port 11112: i-b not registered" in failed.value.detail
    with pytest.raises(CheckFailed, match="no host in service"):
        check_targets(replace(group, in_service=()))


class RecordingRunner:
    """A host runner answering `cloud-init status` per host; one host can be made to fail."""

    def __init__(self, failing: str = "") -> None:
        self.failing = failing
        self.calls: list[str] = []

    def run(self, instance_id: str, script: str, timeout: float) -> CommandOutput:
        self.calls.append(instance_id)
        status = (
            CLOUD_INIT_DONE.replace("status: done", "status: error") if instance_id == self.failing else CLOUD_INIT_DONE
        )
        return CommandOutput("Success", 0, f"{BEGIN} cloud-init\n{status}\n{END} cloud-init 0\n")


def _checks_on(deployment: Deployment, runner: RecordingRunner) -> HostChecks:
    target = Target(Endpoint(), Options())
    target._deployment = deployment  # what `stack.find` would have located
    return HostChecks(target, runner)


def test_host_checks_run_on_every_host_in_service(scaled: ScaledStack) -> None:
    deployment = AwsStack(scaled.seeded.clients, "scaled").locate()
    runner = RecordingRunner()
    detail = _checks_on(deployment, runner).cloud_init()
    assert runner.calls == list(scaled.members)
    assert all(member in detail for member in scaled.members)
    runner = RecordingRunner(failing=scaled.members[1])
    with pytest.raises(CheckFailed) as failed:
        _checks_on(deployment, runner).cloud_init()
    assert failed.value.detail.startswith(f"{scaled.members[1]}: ")
