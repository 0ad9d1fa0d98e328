"""`orthweb vpn` against moto's EC2: it finds the stack's VPN connection by its tags, writes the VPN
device's settings with the tunnels' pre-shared keys to a file only its owner can read, prints the
modality-side settings, and never prints a key. moto returns the "generic" customer gateway
configuration document the Site-to-Site VPN User Guide describes (its sample values)."""

from __future__ import annotations

import io
import itertools
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from orthweb.commands import vpn as command
from orthweb.commands.cli import build_parser
from orthweb.infra.tags import with_role
from orthweb.ops.aws import AwsClients
from orthweb.shared.constants import PLAIN_DICOM_TAG, VPN_ROLE

REGION = "eu-west-1"
_stacks = itertools.count(1)


@pytest.fixture(scope="module")
def ec2() -> Iterator[Any]:
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    yield session.client("ec2", endpoint_url=f"http://{host}:{port}")
    server.stop()


def deploy(ec2: Any, *, with_vpn: bool = True) -> str:
    """A fresh stack name with a VPN connection tagged as `pulumi up` tags it (unless `with_vpn` is false)."""
    stack = f"vpn{next(_stacks)}"
    if not with_vpn:
        return stack
    vpc = ec2.create_vpc(CidrBlock="172.27.0.0/16")["Vpc"]["VpcId"]
    gateway = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpcId=vpc, VpnGatewayId=gateway)
    customer = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="81.2.69.160", BgpAsn=65000)
    tags = {**with_role(stack, VPN_ROLE), PLAIN_DICOM_TAG: "172.27.255.244:104"}
    ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=customer["CustomerGateway"]["CustomerGatewayId"],
        VpnGatewayId=gateway,
        TagSpecifications=[
            {"ResourceType": "vpn-connection", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )
    return stack


def pre_shared_keys(ec2: Any, stack: str) -> list[str]:
    (connection,) = [
        c
        for c in ec2.describe_vpn_connections()["VpnConnections"]
        if {"Key": "orthweb:stack", "Value": stack} in c.get("Tags", [])
    ]
    return re.findall(r"<pre_shared_key>([^<]+)</pre_shared_key>", connection["CustomerGatewayConfiguration"])


def run(ec2: Any, capsys: pytest.CaptureFixture[str], stack: str, out: Path, *extra: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["vpn", "--stack", stack, "--out", str(out), *extra])
    stdout = io.StringIO()
    capsys.readouterr()
    code = command.run(args, clients=AwsClients(ec2=ec2, secretsmanager=None, region=REGION), out=stdout)
    captured = capsys.readouterr()
    return code, stdout.getvalue() + captured.out, captured.err


def test_writes_the_device_settings_to_a_private_file_and_prints_no_key(
    ec2: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stack = deploy(ec2)
    out = tmp_path / "device.conf"
    code, printed, errors = run(ec2, capsys, stack, out)
    assert (code, errors) == (0, "")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    written = out.read_text()
    keys = pre_shared_keys(ec2, stack)
    assert keys and all(f"pre_shared_key = {key}" in written for key in keys)
    assert written.count("[tunnel ") == len(keys)
    assert "ike_versions = ikev2" in written and "SHA1" not in written
    for key in keys:
        assert key not in printed and key not in errors
    # The modality side: the site's AE title, the private address and the port, in one table.
    assert re.search(r"ORTHANC\s+172\.27\.255\.244\s+104", printed)


def test_an_existing_file_is_kept_unless_forced(ec2: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stack = deploy(ec2)
    out = tmp_path / "device.conf"
    out.write_text("mine\n")
    code, _, errors = run(ec2, capsys, stack, out)
    assert code == 1 and "exists" in errors and "\n" not in errors.strip()
    assert out.read_text() == "mine\n"
    assert run(ec2, capsys, stack, out, "--force")[0] == 0
    assert "pre_shared_key" in out.read_text()


def test_a_stack_without_a_vpn_is_one_line_and_writes_nothing(
    ec2: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deploy(ec2)  # another stack's VPN is never taken for this one's
    out = tmp_path / "device.conf"
    code, printed, errors = run(ec2, capsys, deploy(ec2, with_vpn=False), out)
    assert (code, printed) == (1, "")
    assert errors.startswith("orthweb vpn: ") and "set hospitalNetwork" in errors and errors.count("\n") == 1
    assert not out.exists()
