"""`orthweb failover` against a moto server on 127.0.0.1, with the health probe pointed at a local
HTTPS server that presents a generated site certificate."""

from __future__ import annotations

import argparse
import functools
import io
import itertools
import json
import os
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from orthweb.commands import failover as command
from orthweb.commands.common import selected_pulumi_stack
from orthweb.infra.tags import with_role
from orthweb.ops.aws import AwsClients, OpsError, connect
from orthweb.ops.failover import Failover, Timeouts
from orthweb.ops.probe import HealthProbe, https_probe
from orthweb.ops.progress import Reporter
from tools.harness.pki import site_certificate_pem

REGION = "us-east-1"
FAST = Timeouts(start=10.0, healthy=0.3, site=2.0, poll=0.01)


# --- a site certificate and an HTTPS server standing in for Envoy -------------------------------


def _certificate(common_name: str) -> tuple[str, str]:
    """Self-signed like the program's (SAN = site DNS name and IP, serverAuth), as PEM pair."""
    return site_certificate_pem(common_name, san=("203.0.113.10",))


@dataclass
class FakeEnvoy:
    port: int
    certificate_pem: str
    status: int = 401  # Orthanc's answer to a request without credentials
    hosts_seen: list[str] = field(default_factory=list)

    def probe_factory(self, certificate_pem: str) -> HealthProbe:
        return https_probe(certificate_pem, port=self.port, timeout=2.0, connect_to=lambda _address: "127.0.0.1")


@pytest.fixture(scope="module")
def envoy() -> Iterator[FakeEnvoy]:
    cert_pem, key_pem = _certificate("pacs.example.org")
    fake = FakeEnvoy(port=0, certificate_pem=cert_pem)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.hosts_seen.append(self.headers.get("Host", ""))
            self.send_response(fake.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        chain = os.path.join(directory, "site.pem")
        with open(chain, "w") as file:
            file.write(cert_pem + key_pem)
        context.load_cert_chain(chain)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


# --- moto server and the stack's tagged resources ----------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    saved = {key: os.environ.get(key) for key in ("AWS_EC2_METADATA_DISABLED",)}
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@functools.cache
def _session() -> boto3.Session:
    # One session for the module: each new session reloads the EC2 model (about a second).
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


def _tag_spec(stack: str, kind: str, role: str) -> list[dict[str, Any]]:
    tags = with_role(stack, role)
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


@dataclass
class Deployed:
    stack: str
    endpoint: str
    primary: str
    secondary: str
    allocation_id: str
    site_ip: str

    @functools.cached_property
    def ec2(self) -> Any:
        return _session().client("ec2", endpoint_url=self.endpoint)

    def snapshot(self) -> dict[str, Any]:
        ec2 = self.ec2
        addresses = ec2.describe_addresses(AllocationIds=[self.allocation_id])["Addresses"]
        reservations = ec2.describe_instances(InstanceIds=[self.primary, self.secondary])
        states = {i["InstanceId"]: i["State"]["Name"] for r in reservations["Reservations"] for i in r["Instances"]}
        return {"eip_instance": addresses[0].get("InstanceId"), "states": states}

    def holder(self) -> str | None:
        return self.snapshot()["eip_instance"]

    def state(self, instance_id: str) -> str:
        return self.snapshot()["states"][instance_id]


_stack_numbers = itertools.count(1)


@pytest.fixture
def deployed(moto_endpoint: str, envoy: FakeEnvoy) -> Deployed:
    # A fresh stack name per test instead of resetting moto (a reset costs ~1 s per service);
    # the tags keep the stacks apart, exactly as they must in a real account.
    stack = f"test{next(_stack_numbers)}"
    envoy.status, envoy.hosts_seen[:] = 401, []
    session = _session()
    ec2 = session.client("ec2", endpoint_url=moto_endpoint)
    vpc = ec2.create_vpc(CidrBlock="172.27.0.0/16")["Vpc"]["VpcId"]
    ids = {}
    for role, zone, cidr in (
        ("primary", "us-east-1a", "172.27.0.0/24"),
        ("secondary", "us-east-1b", "172.27.1.0/24"),
    ):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]
        # Public subnets, as the program makes them: each host gets its own public address.
        ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
        instance = ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType="t4g.medium",
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet["SubnetId"],
            TagSpecifications=_tag_spec(stack, "instance", role),
        )["Instances"][0]
        ids[role] = instance["InstanceId"]
    # Another stack's address must never be touched.
    ec2.allocate_address(Domain="vpc", TagSpecifications=_tag_spec(f"{stack}-other", "elastic-ip", "site"))
    address = ec2.allocate_address(Domain="vpc", TagSpecifications=_tag_spec(stack, "elastic-ip", "site"))
    ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=ids["primary"])
    secrets = session.client("secretsmanager", endpoint_url=moto_endpoint)
    tags = with_role(stack, "site-tls")
    secrets.create_secret(
        Name=f"orthweb/{stack}/site-tls-1",
        SecretString=json.dumps({"certificate": envoy.certificate_pem, "private_key": "[unused]"}),
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    return Deployed(
        stack,
        moto_endpoint,
        ids["primary"],
        ids["secondary"],
        address["AllocationId"],
        address["PublicIp"],
    )


@functools.cache
def _clients(endpoint: str) -> AwsClients:
    # Shared by the tests: building an EC2 client costs far more than any call to moto.
    return connect(session=_session(), region=REGION, endpoint_url=endpoint)


_denials: list[tuple[Any, str, Callable[..., None]]] = []


@pytest.fixture(autouse=True)
def _lift_denials() -> Iterator[None]:
    yield
    while _denials:
        client, event, handler = _denials.pop()
        client.meta.events.unregister(event, handler)


def _failover(
    deployed: Deployed,
    envoy: FakeEnvoy,
    *,
    stack: str | None = None,
    deny: tuple[str, str] | None = None,
    timeouts: Timeouts = FAST,
    out: io.StringIO | None = None,
) -> Failover:
    clients = _clients(deployed.endpoint)
    if deny is not None:
        _deny(clients, *deny)
    reporter = Reporter(out or io.StringIO(), interactive=False)
    return Failover(
        clients,
        stack or deployed.stack,
        probe_factory=envoy.probe_factory,
        reporter=reporter,
        timeouts=timeouts,
    )


def _deny(clients: AwsClients, operation: str, code: str) -> None:
    """Credentials that lack one permission (moto does not enforce IAM by default)."""

    def refuse(**_kwargs: Any) -> None:
        message = "You are not authorized to perform this operation."
        raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

    client = clients.secretsmanager if operation == "GetSecretValue" else clients.ec2
    service = client.meta.service_model.service_name
    event = f"before-call.{service}.{operation}"
    client.meta.events.register(event, refuse)
    _denials.append((client, event, refuse))


# --- the happy paths ----------------------------------------------------------------------------


def test_moves_the_address_to_the_running_secondary(deployed: Deployed, envoy: FakeEnvoy) -> None:
    out = io.StringIO()
    failover = _failover(deployed, envoy, out=out)
    plan = failover.plan()
    assert (plan.source and plan.source.role, plan.target.role) == ("primary", "secondary")

    result = failover.execute(plan)

    assert deployed.holder() == deployed.secondary
    assert not result.started_target
    # The target was checked on its own address before the site address moved to it.
    assert envoy.hosts_seen[0] == plan.target.public_ip
    assert envoy.hosts_seen[-1] == deployed.site_ip
    titles = [timing.title for timing in result.timings]
    assert titles[0].startswith("Find stack") and titles[-1].startswith("Check the site")
    assert "Move the site address" in out.getvalue()


def test_starts_a_stopped_secondary_first(deployed: Deployed, envoy: FakeEnvoy) -> None:
    deployed.ec2.stop_instances(InstanceIds=[deployed.secondary])
    assert deployed.state(deployed.secondary) == "stopped"

    failover = _failover(deployed, envoy)
    plan = failover.plan()
    assert "started first" in plan.summary()
    result = failover.execute(plan)

    assert result.started_target
    assert deployed.state(deployed.secondary) == "running"
    assert deployed.holder() == deployed.secondary
    assert [t.title for t in result.timings][1].startswith("Start the secondary host")


def test_default_direction_follows_the_current_holder(deployed: Deployed, envoy: FakeEnvoy) -> None:
    deployed.ec2.associate_address(
        AllocationId=deployed.allocation_id, InstanceId=deployed.secondary, AllowReassociation=True
    )
    failover = _failover(deployed, envoy)
    failover.execute(failover.plan())
    assert deployed.holder() == deployed.primary


def test_command_with_yes_reports_each_step(deployed: Deployed, envoy: FakeEnvoy) -> None:
    out = io.StringIO()
    args = argparse.Namespace(stack=deployed.stack, to="secondary", region=REGION, yes=True)
    code = command.run(args, failover=_failover(deployed, envoy, out=out), out=out)
    assert code == 0
    assert deployed.holder() == deployed.secondary
    text = out.getvalue()
    assert "Failover done in" in text and " s  Move the site address" in text


# --- refusals: a clear message, and nothing changed ----------------------------------------------


def _refused(deployed: Deployed, action: Callable[[], Any], *, expect: str) -> OpsError:
    before = deployed.snapshot()
    with pytest.raises(OpsError) as caught:
        action()
    assert expect in str(caught.value)
    assert not caught.value.changed
    assert "Nothing was changed." in caught.value.user_message()
    assert deployed.snapshot() == before
    return caught.value


def test_refuses_when_the_target_already_holds_the_address(deployed: Deployed, envoy: FakeEnvoy) -> None:
    failover = _failover(deployed, envoy)
    _refused(deployed, lambda: failover.plan("primary"), expect="already holds the site address")


def test_refuses_an_unhealthy_running_target(deployed: Deployed, envoy: FakeEnvoy) -> None:
    envoy.status = 503
    failover = _failover(deployed, envoy)
    error = _refused(deployed, lambda: failover.execute(failover.plan()), expect="did not answer healthily")
    assert "HTTP 503" in str(error) and "not moved" in str(error)


def test_unhealthy_started_target_keeps_the_address_and_says_it_runs(deployed: Deployed, envoy: FakeEnvoy) -> None:
    deployed.ec2.stop_instances(InstanceIds=[deployed.secondary])
    envoy.status = 502
    failover = _failover(deployed, envoy)
    with pytest.raises(OpsError) as caught:
        failover.execute(failover.plan())
    message = caught.value.user_message()
    assert caught.value.changed and "Nothing was changed" not in message
    assert "was not moved" in message and "left running" in message
    assert deployed.holder() == deployed.primary
    assert deployed.state(deployed.secondary) == "running"


def test_refuses_when_the_stack_has_no_site_address(deployed: Deployed, envoy: FakeEnvoy) -> None:
    failover = _failover(deployed, envoy, stack="no-such-stack")
    _refused(deployed, failover.plan, expect="found no Elastic IP tagged")


def test_refuses_when_a_host_is_missing(deployed: Deployed, envoy: FakeEnvoy) -> None:
    deployed.ec2.terminate_instances(InstanceIds=[deployed.secondary])
    failover = _failover(deployed, envoy)
    with pytest.raises(OpsError, match="found no secondary host tagged"):
        failover.plan()
    assert deployed.holder() == deployed.primary


@pytest.mark.parametrize(
    ("operation", "code", "action"),
    [
        ("DescribeAddresses", "UnauthorizedOperation", "ec2:DescribeAddresses"),
        ("AssociateAddress", "UnauthorizedOperation", "ec2:AssociateAddress"),
        ("GetSecretValue", "AccessDeniedException", "secretsmanager:GetSecretValue"),
    ],
)
def test_refuses_clearly_when_permission_is_missing(
    deployed: Deployed, envoy: FakeEnvoy, operation: str, code: str, action: str
) -> None:
    failover = _failover(deployed, envoy, deny=(operation, code))
    error = _refused(deployed, lambda: failover.execute(failover.plan()), expect=f"may not call {action}")
    assert code in str(error)


def test_refuses_to_start_without_permission(deployed: Deployed, envoy: FakeEnvoy) -> None:
    deployed.ec2.stop_instances(InstanceIds=[deployed.secondary])
    failover = _failover(deployed, envoy, deny=("StartInstances", "UnauthorizedOperation"))
    _refused(deployed, lambda: failover.execute(failover.plan()), expect="ec2:StartInstances")


def test_command_refuses_without_a_terminal_or_yes(
    deployed: Deployed, envoy: FakeEnvoy, capsys: pytest.CaptureFixture[str]
) -> None:
    before = deployed.snapshot()
    args = argparse.Namespace(stack=deployed.stack, to=None, region=REGION, yes=False)
    code = command.run(args, failover=_failover(deployed, envoy), out=io.StringIO())
    assert code == 1
    err = capsys.readouterr().err
    assert "pass --yes" in err and "Nothing was changed." in err
    assert deployed.snapshot() == before


def test_command_stops_when_not_confirmed(deployed: Deployed, envoy: FakeEnvoy) -> None:
    before = deployed.snapshot()
    args = argparse.Namespace(stack=deployed.stack, to=None, region=REGION, yes=False)
    failover = _failover(deployed, envoy)
    assert command.run(args, failover=failover, confirm=lambda _plan: False, out=io.StringIO()) == 1
    assert deployed.snapshot() == before


def _scale_out_stack(endpoint: str, *, members: int) -> str:
    """A scale-out stack as failover sees it: hosts tagged as group members, two site addresses."""
    stack = f"scaled{next(_stack_numbers)}"
    ec2 = _session().client("ec2", endpoint_url=endpoint)
    if members:
        ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType="t4g.medium",
            MinCount=members,
            MaxCount=members,
            TagSpecifications=_tag_spec(stack, "instance", "member"),
        )
    for _ in range(2):
        ec2.allocate_address(Domain="vpc", TagSpecifications=_tag_spec(stack, "elastic-ip", "site"))
    return stack


@pytest.mark.parametrize("members", [2, 0])
def test_refuses_a_scale_out_stack_in_one_line(
    deployed: Deployed, envoy: FakeEnvoy, capsys: pytest.CaptureFixture[str], members: int
) -> None:
    stack = _scale_out_stack(deployed.endpoint, members=members)
    before = deployed.snapshot()
    out = io.StringIO()
    args = argparse.Namespace(stack=stack, to=None, region=REGION, yes=True)
    code = command.run(args, failover=_failover(deployed, envoy, stack=stack, out=out), out=out)
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scale-out topology" in err and "no standby host" in err
    assert out.getvalue() == "", "nothing is reported as a step before the refusal"
    assert deployed.snapshot() == before


# --- the probe and the progress output ------------------------------------------------------------


def test_probe_trusts_only_the_site_certificate(envoy: FakeEnvoy) -> None:
    other_pem, _ = _certificate("someone-else.example.org")
    probe = https_probe(other_pem, port=envoy.port, timeout=2.0, connect_to=lambda _a: "127.0.0.1")
    outcome = probe("198.51.100.7")
    assert not outcome.ok and "not the site certificate" in outcome.detail
    good = envoy.probe_factory(envoy.certificate_pem)("198.51.100.7")
    assert good.ok and "HTTP 401" in good.detail


def test_spinner_on_a_terminal_plain_lines_otherwise() -> None:
    tty, plain = io.StringIO(), io.StringIO()
    Reporter(tty, interactive=True).waiting("waiting for i-1", 3.0)
    reporter = Reporter(plain, interactive=False, plain_every=10.0)
    for elapsed in (0.0, 4.0, 11.0):
        reporter.waiting("waiting for i-1", elapsed)
    assert tty.getvalue().startswith("\r")
    assert plain.getvalue().splitlines() == ["    waiting for i-1 (0 s)", "    waiting for i-1 (11 s)"]


# --- the default --stack ---------------------------------------------------------------------------


def _fake_pulumi(directory: Any, script: str) -> str:
    path = directory / "pulumi"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return str(directory)


def test_default_stack_is_the_selected_pulumi_stack(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _fake_pulumi(tmp_path, 'echo "acme/orthweb/prod"'))
    assert selected_pulumi_stack() == "prod"


@pytest.mark.parametrize(
    ("script", "expect"),
    [(None, "pulumi CLI is not on PATH"), ("exit 255", "no Pulumi stack is selected here")],
    ids=["no-pulumi", "none-selected"],
)
def test_no_selected_stack_asks_for_stack(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, script: str | None, expect: str
) -> None:
    monkeypatch.setenv("PATH", _fake_pulumi(tmp_path, script) if script else str(tmp_path))
    with pytest.raises(OpsError, match="pass --stack") as caught:
        selected_pulumi_stack()
    assert expect in str(caught.value)


def test_the_site_private_route_follows_the_address(deployed: Deployed, envoy: FakeEnvoy) -> None:
    """With a hospital network, the VPN gateway's route to the site's private /28 moves with the
    Elastic IP; another stack's route table is left as it is."""
    ec2 = _session().client("ec2", endpoint_url=deployed.endpoint)

    def interface(instance_id: str) -> str:
        found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        return found["NetworkInterfaces"][0]["NetworkInterfaceId"]

    vpc_id = ec2.describe_instances(InstanceIds=[deployed.primary])["Reservations"][0]["Instances"][0]["VpcId"]
    ec2.create_subnet(VpcId=vpc_id, CidrBlock="172.27.255.240/28", AvailabilityZone="us-east-1a")
    tables = {}
    for stack in (deployed.stack, f"{deployed.stack}-other"):
        table = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=_tag_spec(stack, "route-table", "site-route"))
        tables[stack] = table["RouteTable"]["RouteTableId"]
        ec2.create_route(
            RouteTableId=tables[stack],
            DestinationCidrBlock="172.27.255.240/28",
            NetworkInterfaceId=interface(deployed.primary),
        )

    failover = _failover(deployed, envoy)
    failover.execute(failover.plan())

    def target(stack: str) -> str | None:
        routes = ec2.describe_route_tables(RouteTableIds=[tables[stack]])["RouteTables"][0]["Routes"]
        return next(r.get("NetworkInterfaceId") for r in routes if r["DestinationCidrBlock"] == "172.27.255.240/28")

    assert target(deployed.stack) == interface(deployed.secondary)
    assert target(f"{deployed.stack}-other") == interface(deployed.primary)
