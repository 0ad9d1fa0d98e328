"""verify's view of the private path from the hospital (`hospitalNetwork`): the VPN tunnels as AWS
reports them, and a C-ECHO in plain DICOM from the host over SSM.

What moto 5.2 does with a VPN connection (measured here): DescribeVpnConnections finds it by its
tags and state and returns its customer gateway configuration, but never `VgwTelemetry` (the tunnels'
UP/DOWN). So the tunnel verdicts are tested on DescribeVpnConnections answers that botocore's
Stubber checks against the EC2 API's own model, and moto's silence is asserted as what it is.
The C-ECHO runs the real probe script (the one SSM would run) against the verify harness's real
Envoy plain listener and Orthanc.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from orthweb.infra.tags import with_role
from orthweb.ops.verify.aws import AwsStack, VerifyClients
from orthweb.ops.verify.dicom_checks import DicomChecks
from orthweb.ops.verify.host import CommandOutput
from orthweb.ops.verify.model import CheckFailed, LoadBalancedGroup
from orthweb.ops.verify.settings import Endpoint, Options
from orthweb.ops.verify.target import Target
from orthweb.ops.verify.vpn_checks import NO_VPN, VpnChecks
from orthweb.shared.constants import PLAIN_DICOM_TAG, VPN_ROLE
from tests.verify.conftest import REGION, LocalHostRunner, SeededStack, _tag_list, seed_stack
from tools.harness import Stack
from tools.harness.aws import LocalAws
from tools.harness.dicom import CALLING_AE

CONNECTION = "vpn-0a1b2c3d4e5f67890"
TUNNELS = ("52.1.1.1", "52.2.2.2")


def _connection(*telemetry: tuple[str, str, str]) -> dict[str, Any]:
    """A DescribeVpnConnections entry with these tunnels (outside address, status, message)."""
    return {
        "VpnConnectionId": CONNECTION,
        "State": "available",
        "Type": "ipsec.1",
        "CustomerGatewayId": "cgw-0a1b2c3d",
        "Tags": [{"Key": PLAIN_DICOM_TAG, "Value": "172.27.255.244:104"}],
        "VgwTelemetry": [
            {"OutsideIpAddress": address, "Status": status, "StatusMessage": message, "AcceptedRouteCount": 0}
            for address, status, message in telemetry
        ],
    }


@pytest.fixture
def stubbed() -> Iterator[tuple[Stubber, AwsStack]]:
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    clients = VerifyClients(ec2=ec2, secretsmanager=None, s3=None, kms=None, ssm=None, region=REGION)
    with Stubber(ec2) as stubber:
        yield stubber, AwsStack(clients, "dev")


def _tunnels_verdict(stubbed: tuple[Stubber, AwsStack], connections: list[dict[str, Any]]) -> str:
    stubber, backend = stubbed
    # The Stubber refuses an answer the EC2 API's model would not allow.
    stubber.add_response("describe_vpn_connections", {"VpnConnections": connections})
    checks = VpnChecks(Target(Endpoint(), Options()), backend, runner=None, dicom=None)  # type: ignore[arg-type]
    return checks.tunnels()


def test_both_tunnels_up(stubbed) -> None:
    verdict = _tunnels_verdict(stubbed, [_connection((TUNNELS[0], "UP", ""), (TUNNELS[1], "UP", ""))])
    assert verdict == f"{CONNECTION}: 2 of 2 tunnels up"


def test_one_tunnel_down_passes_and_names_it(stubbed) -> None:
    verdict = _tunnels_verdict(stubbed, [_connection((TUNNELS[0], "DOWN", "IPSEC IS DOWN"), (TUNNELS[1], "UP", ""))])
    assert verdict == f"{CONNECTION}: 1 of 2 tunnels up; down: {TUNNELS[0]} DOWN (IPSEC IS DOWN)"


def test_both_tunnels_down_fails_naming_each(stubbed) -> None:
    with pytest.raises(CheckFailed) as failed:
        _tunnels_verdict(stubbed, [_connection((TUNNELS[0], "DOWN", "IPSEC IS DOWN"), (TUNNELS[1], "DOWN", ""))])
    assert failed.value.detail == (
        f"no tunnel of {CONNECTION} is up: {TUNNELS[0]} DOWN (IPSEC IS DOWN); {TUNNELS[1]} DOWN"
    )
    assert "orthweb vpn" in failed.value.hint


def test_a_stack_without_a_vpn_skips(stubbed) -> None:
    assert _tunnels_verdict(stubbed, []) == NO_VPN


def _seed_vpn(aws: LocalAws, seeded: SeededStack, destination: str) -> str:
    """The VPN connection `pulumi up` makes for `seeded`, tagged as it tags it."""
    ec2 = seeded.clients.ec2
    gateway = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="81.2.69.160", BgpAsn=65000)["CustomerGateway"]
    private = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]
    tags = {**with_role(seeded.name, VPN_ROLE), PLAIN_DICOM_TAG: destination}
    return ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=gateway["CustomerGatewayId"],
        VpnGatewayId=private["VpnGatewayId"],
        TagSpecifications=[{"ResourceType": "vpn-connection", "Tags": _tag_list(tags)}],
    )["VpnConnection"]["VpnConnectionId"]


@pytest.fixture(scope="module")
def plain_stack(local_aws: LocalAws, harness: Stack) -> tuple[SeededStack, str]:
    """A stack with the harness's certificate and credential, and a VPN whose plain-DICOM
    destination is the harness's plain listener."""
    seeded = seed_stack(
        local_aws,
        "plainvpn",
        certificate_pem=harness.site_ca.read_text(),
        private_key_pem=(harness.secrets_dir / "site.key").read_text(),
        admin=(harness.admin.username, harness.admin.password),
    )
    assert harness.plain_dicom_port, "the verify harness renders the plain-DICOM listener"
    return seeded, _seed_vpn(local_aws, seeded, f"127.0.0.1:{harness.plain_dicom_port}")


def test_moto_finds_the_connection_by_its_tags_but_reports_no_tunnel_state(
    plain_stack: tuple[SeededStack, str], moto_stack: SeededStack
) -> None:
    seeded, connection_id = plain_stack
    found = AwsStack(seeded.clients, seeded.name).vpn_connection()
    assert found is not None and found["VpnConnectionId"] == connection_id
    assert "VgwTelemetry" not in found
    # Another stack's connection is not this one's.
    assert AwsStack(moto_stack.clients, moto_stack.name).vpn_connection() is None
    checks = VpnChecks(Target(Endpoint(), Options()), AwsStack(seeded.clients, seeded.name), None, None)  # type: ignore[arg-type]
    with pytest.raises(CheckFailed, match=f"AWS reports no tunnel state for {connection_id}"):
        checks.tunnels()


def _echo_checks(seeded: SeededStack, harness: Stack, runner: LocalHostRunner, modality: str) -> VpnChecks:
    backend = AwsStack(seeded.clients, seeded.name)
    target = Target(
        Endpoint(connect_host="127.0.0.1", https_port=harness.https_port, dicom_port=harness.dicom_port),
        Options(dicom_modality=modality, layout=runner.layout),
    )
    target.locate(backend)
    return VpnChecks(target, backend, runner, DicomChecks(target, backend))


@pytest.mark.runtime
def test_c_echo_in_plain_dicom_on_the_serving_host(
    plain_stack: tuple[SeededStack, str], harness: Stack, host_runner: LocalHostRunner
) -> None:
    seeded, _ = plain_stack
    detail = _echo_checks(seeded, harness, host_runner, CALLING_AE).echo()
    assert detail == (
        f"C-ECHO to ORTHANC@127.0.0.1:{harness.plain_dicom_port} as {CALLING_AE} status 0x0000 on {seeded.primary}"
    )
    assert host_runner.calls[-1] == seeded.primary


@pytest.mark.runtime
def test_c_echo_as_an_unknown_modality_fails_with_orthanc_s_refusal(
    plain_stack: tuple[SeededStack, str], harness: Stack, host_runner: LocalHostRunner
) -> None:
    """Orthanc rejects a calling AE title it does not know (A-ASSOCIATE-RJ, reason 3 of PS3.8 table 9-21)."""
    seeded, _ = plain_stack
    with pytest.raises(CheckFailed) as failed:
        _echo_checks(seeded, harness, host_runner, "NOT-A-MODALITY").echo()
    assert failed.value.detail.endswith("rejected result 1 source 1 reason 3")


@pytest.mark.runtime
def test_c_echo_against_the_tls_listener_gets_no_answer(
    plain_stack: tuple[SeededStack, str], harness: Stack, host_runner: LocalHostRunner
) -> None:
    """The probe's plain association on DICOM-TLS: Envoy waits for a TLS handshake and closes."""
    seeded, _ = plain_stack
    checks = _echo_checks(seeded, harness, host_runner, CALLING_AE)
    found = checks.backend.vpn_connection()
    assert found is not None
    tags = [{"Key": PLAIN_DICOM_TAG, "Value": f"127.0.0.1:{harness.dicom_port}"}]
    checks._connection, checks._looked = {**found, "Tags": tags}, True  # pyright: ignore[reportPrivateUsage]
    with pytest.raises(CheckFailed) as failed:
        checks.echo()
    assert f"plain DICOM to 127.0.0.1:{harness.dicom_port}: error" in failed.value.detail


def test_without_a_vpn_the_echo_is_skipped(moto_stack: SeededStack) -> None:
    checks = VpnChecks(Target(Endpoint(), Options()), AwsStack(moto_stack.clients, moto_stack.name), None, None)  # type: ignore[arg-type]
    assert checks.echo() == NO_VPN


class _GroupBackend:
    """A scale-out stack's backend: its VPN tagged with the internal load balancer's addresses."""

    def vpn_connection(self) -> dict[str, Any]:
        return {**_connection(), "Tags": [{"Key": PLAIN_DICOM_TAG, "Value": "172.27.47.254:2104 172.27.63.254:2104"}]}

    def client_certificates(self) -> None:
        return None


class _RecordingRunner:
    def __init__(self) -> None:
        self.scripts: dict[str, str] = {}

    def run(self, instance_id: str, script: str, timeout: float) -> CommandOutput:
        self.scripts[instance_id] = script
        return CommandOutput("Success", 0, "status 0x0000\n")


def test_each_scale_out_host_echoes_its_own_listener(moto_stack: SeededStack) -> None:
    """Scale-out: the internal load balancer admits the hospital's ranges only, so each member in
    service reaches its own published plain port (the tagged one) on its loopback."""
    target = Target(Endpoint(), Options(dicom_modality=CALLING_AE))
    target.locate(AwsStack(moto_stack.clients, moto_stack.name))
    group = LoadBalancedGroup("orthweb-dev-group", ("i-1", "i-2"), "orthweb-dev", "nlb.example", False, ())
    target._deployment = dataclasses.replace(target.deployment, group=group)  # pyright: ignore[reportPrivateUsage]
    backend, runner = _GroupBackend(), _RecordingRunner()
    checks = VpnChecks(target, backend, runner, DicomChecks(target, backend))  # type: ignore[arg-type]
    assert checks.echo() == f"C-ECHO to ORTHANC@127.0.0.1:2104 as {CALLING_AE} status 0x0000 on i-1, i-2"
    assert sorted(runner.scripts) == ["i-1", "i-2"]
    for script in runner.scripts.values():
        assert script.startswith(f"python3 - 127.0.0.1 2104 {CALLING_AE} ORTHANC <<'ORTHWEB_ECHO_PROBE'\n")
        assert "import orthweb" not in script and "from orthweb" not in script
